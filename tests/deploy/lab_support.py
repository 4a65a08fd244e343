"""Helpers for deploy tests on the lab: material per program, probing, Table 1."""

from __future__ import annotations

from certmgr.deploy.model import Material, SlotTarget
from certmgr.deploy.verify import served_now
from certmgr.hosts.base import Host
from certmgr.hosts.servicetable import load_service_table
from certmgr.models import Endpoint, ServiceKind
from tests.deploy.material import TestCA

# The seed's certificates (Table 1 and 2): which names each program's certificate holds.
SEED_NAMES = {
    ServiceKind.SLAPD: ("ldap.example.com",),
    ServiceKind.APACHE2: ("www.example.com",),
    ServiceKind.VSFTPD: ("www2.example.com", "ftp.example.com"),
    ServiceKind.POSTFIX: ("smtp.example.com",),
    ServiceKind.DOVECOT: ("pop.example.com", "imap.example.com"),
    ServiceKind.TOMCAT: ("www2.example.com", "ftp.example.com"),
}

# Table 1: key owner:group and mode per program.
TABLE1_KEY = {
    ServiceKind.SLAPD: ("root", "openldap", 0o640),
    ServiceKind.APACHE2: ("root", "root", 0o600),
    ServiceKind.VSFTPD: ("root", "root", 0o600),
    ServiceKind.POSTFIX: ("root", "root", 0o600),
    ServiceKind.DOVECOT: ("root", "root", 0o600),
    ServiceKind.TOMCAT: ("root", "tomcat", 0o640),
}


def material_for(ca: TestCA, target: SlotTarget, **faults: bool) -> Material:
    names = tuple(dict.fromkeys(SEED_NAMES[target.kind] + target.names))
    return ca.material(names[0], names, **faults)


def program_endpoints(host: Host, kind: ServiceKind) -> tuple[Endpoint, ...]:
    """Every TLS endpoint of ``kind`` as the host's service table lists them."""
    table = load_service_table(host)
    assert table is not None
    return table.get(kind.value).endpoints


def served(host: Host, kind: ServiceKind) -> dict[str, str | None]:
    """endpoint -> leaf SHA-256 served now (None: the handshake did not complete)."""
    return {name: r.leaf_sha256 if r.ok else None
            for name, r in served_now(program_endpoints(host, kind), host.address).items()}
