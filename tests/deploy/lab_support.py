"""Helpers for deploy tests on the lab: material per program, probing, Table 1."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from certmgr.deploy.control import ServiceControl
from certmgr.deploy.model import Material, SlotTarget
from certmgr.deploy.verify import served_now
from certmgr.hosts.base import Host
from certmgr.hosts.lab import LabHost
from certmgr.hosts.servicetable import load_service_table
from certmgr.models import Endpoint
from certmgr.programs import ServiceKind
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


def corrupt_key(host: LabHost, path: str) -> Callable[[], None]:
    """A checkpoint hook that spoils the installed key at ``path`` (certificates kept).

    A keystore or a key file becomes a PEM "key" that is not one; a combined file
    (haproxy) keeps its certificates so only the key goes bad.
    """
    def corrupt() -> None:
        real = host.local_path(path)
        kept = b"".join(block + b"-----END CERTIFICATE-----\n" for block in
                        real.read_bytes().split(b"-----END CERTIFICATE-----\n")[:-1])
        real.write_bytes(kept + b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n"
                                b"-----END PRIVATE KEY-----\n")
    return corrupt


def kill_program(host: LabHost, pid_of: Callable[[], int | None]) -> Callable[[], None]:
    """A checkpoint hook that stops the program whose pid ``pid_of`` gives, and waits."""
    def kill() -> None:
        control = ServiceControl(host)
        pid = pid_of()
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while control.alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    return kill
