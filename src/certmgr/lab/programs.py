"""The server programs of a lab host, from the registry: each program's spec has its lab part.

:data:`PROGRAMS` are the lab parts (:class:`certmgr.programs.lab.LabProgram`)
of the registered programs, in start order (those that take longest first);
:data:`DEFAULT_PROGRAMS` are those a lab runs unless told otherwise (the seed's
six). :class:`HostContext` is what a program's ``install`` and ``service`` get
for one host: its tree, address and layout, and the seed's credentials, placed
with Table 1's owners and modes. Paths are as the program sees them inside the
host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from certmgr.lab.certs import SelfSigned, jks_keystore, self_signed
from certmgr.lab.tree import HostTree, template
from certmgr.programs import PROGRAMS as SPECS
from certmgr.programs import spec_for
from certmgr.programs.lab import LabCredential, LabProgram
from certmgr.programs.policy import key_dir_mode, key_mode

__all__ = [
    "DEFAULT_PROGRAMS",
    "LAYOUTS",
    "PROGRAMS",
    "SNAKEOIL_CERT",
    "SNAKEOIL_KEY",
    "HostContext",
    "LabProgram",
    "program",
]

LAYOUTS = ("seed", "debian")
SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"
SEED_NAMES = ("ldap.example.com", "www.example.com", "www2.example.com", "ftp.example.com",
              "smtp.example.com", "pop.example.com", "imap.example.com")


@dataclass
class HostContext:
    """What programs need to install themselves into one host's tree."""

    tree: HostTree
    address: str
    layout: str
    manager_password: str
    fingerprints: dict[str, str] = field(default_factory=dict)  # kind -> served leaf sha256
    snakeoil: SelfSigned | None = None

    def pem_pair(self, kind: str, name: str, sans: tuple[str, ...], *,
                 key_group: str = "root") -> tuple[str, str]:
        """Place the program's certificate and key; returns (cert path, key path).

        seed: a self-signed pair of its own at Table 1's paths, owner and mode
        (``root:<key_group>`` 0640 in a 0750 ``private/`` when the program reads
        its key as its own user, else ``root:root`` 0600 in 0700).
        debian: the shared snakeoil pair.
        """
        if self.layout == "debian":
            assert self.snakeoil is not None
            self.fingerprints[kind] = self.snakeoil.sha256
            return SNAKEOIL_CERT, SNAKEOIL_KEY
        base = _seed_dir(kind)
        cred = self_signed(name, sans)
        self.fingerprints[kind] = cred.sha256
        shared = key_group != "root"
        cert, key = f"{base}/ssl/certs/{name}.crt", f"{base}/ssl/private/{name}.key"
        self.tree.mkdir(f"{base}/ssl/certs")
        self.tree.mkdir(f"{base}/ssl/private", mode=key_dir_mode(shared), group=key_group)
        self.tree.write(cert, cred.cert_pem)
        self.tree.write(key, cred.key_pem, mode=key_mode(shared), group=key_group)
        if spec_for(kind).needs_ca_file:
            # A trusted-CA file (slapd's); for a self-signed certificate it is the certificate.
            self.tree.write(f"{base}/ssl/certs/trusted-ca.crt", cred.cert_pem)
        return cert, key

    def ca_file(self, kind: str) -> str:
        if self.layout == "debian":
            return SNAKEOIL_CERT
        return f"{_seed_dir(kind)}/ssl/certs/trusted-ca.crt"

    def template(self, name: str, **values: str) -> str:
        return template(name, **values)

    def self_signed(self, common_name: str, names: tuple[str, ...] = ()) -> SelfSigned:
        return self_signed(common_name, names)

    def jks_keystore(self, cred: LabCredential, *, alias: str, password: str) -> bytes:
        if not isinstance(cred, SelfSigned):
            raise TypeError("the lab's keystores hold its own self-signed credentials")
        return jks_keystore(cred, alias=alias, password=password)


def _seed_dir(kind: str) -> str:
    """The seed's per-program directory: the spec's, else its lab part's (Tomcat's)."""
    spec = spec_for(kind)
    lab = spec.lab
    base = spec.seed_dir or (lab.seed_dir if lab is not None else None)
    if base is None:
        raise KeyError(kind)
    return base


def _lab_programs() -> tuple[LabProgram, ...]:
    found = [lab for spec in SPECS if (lab := spec.lab) is not None]
    # Start order: the slowest (Tomcat) first, as the others start meanwhile.
    return tuple(sorted(found, key=lambda p: not p.starts_early))


PROGRAMS: tuple[LabProgram, ...] = _lab_programs()
# What a lab runs unless told otherwise (the seed's six); the others only when asked.
DEFAULT_PROGRAMS: tuple[str, ...] = tuple(p.name for p in PROGRAMS if p.default)


def program(name: str) -> LabProgram:
    """The lab program of this kind (``slapd``, ``apache2``...)."""
    for prog in PROGRAMS:
        if prog.name == name:
            return prog
    raise KeyError(name)
