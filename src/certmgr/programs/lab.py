"""A program's part of ``certmgr lab``: what it installs into a lab host and how the host runs it.

A program's package may have a ``lab`` module whose ``LAB`` is a
:class:`LabProgram` (its spec's ``lab``); its template data lives under
``certmgr/lab/templates/<name>/``. The lab engine (:mod:`certmgr.lab`) builds
each host's tree and service table by asking every registered program that has
a lab part, through a :class:`LabContext`: the host's file tree, its address,
its layout, and the seed's credentials (Table 1's owners and modes, from
:mod:`certmgr.programs.policy`). Nothing here imports the lab.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar, Protocol

from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import Endpoint, TlsMode

__all__ = ["LabContext", "LabCredential", "LabProgram", "LabTree", "Ports", "foreground",
           "sh"]

Ports = tuple[tuple[int, TlsMode], ...]


class LabCredential(Protocol):
    """A self-signed certificate and its unencrypted key, PEM encoded."""

    @property
    def cert_pem(self) -> bytes: ...

    @property
    def key_pem(self) -> bytes: ...

    @property
    def sha256(self) -> str: ...


class LabTree(Protocol):
    """A lab host's file tree; paths are as the programs see them inside the host."""

    def path(self, host_path: str) -> Path: ...

    def mkdir(self, host_path: str, *, mode: int = 0o755, owner: str = "root",
              group: str = "root") -> None: ...

    def write(self, host_path: str, data: bytes | str, *, mode: int = 0o644,
              owner: str = "root", group: str = "root") -> None: ...

    def symlink(self, host_path: str, target: str) -> None: ...

    def remove(self, host_path: str) -> None: ...

    def add_to_group(self, group: str, user: str) -> None: ...

    def add_system_user(self, name: str) -> None: ...


class LabContext(Protocol):
    """What a program's lab part gets for one host (the lab's ``HostContext``)."""

    @property
    def tree(self) -> LabTree: ...

    @property
    def address(self) -> str: ...

    @property
    def layout(self) -> str: ...

    @property
    def manager_password(self) -> str: ...

    @property
    def fingerprints(self) -> dict[str, str]: ...

    @property
    def snakeoil(self) -> LabCredential | None: ...

    def pem_pair(self, kind: str, name: str, sans: tuple[str, ...], *,
                 key_group: str = "root") -> tuple[str, str]: ...

    def ca_file(self, kind: str) -> str: ...

    def template(self, name: str, **values: str) -> str: ...

    def self_signed(self, common_name: str, names: tuple[str, ...] = ()) -> LabCredential: ...

    def jks_keystore(self, cred: LabCredential, *, alias: str, password: str) -> bytes: ...


class LabProgram(ABC):
    """One server program of a lab host.

    Attributes:
        name: the program (its kind's value).
        ports: its TLS ports and how TLS starts on each.
        default: it runs unless ``lab up --programs`` names others.
        starts_early: started before the others (it takes longest to come up).
        seed_dir: the lab's per-program directory when its spec has none (Tomcat).
        start_timeout: seconds it may take until its TLS endpoints answer.
        var_lib_copies: directories of the machine's /var/lib every lab host gets a
            copy of (Tomcat's CATALINA_BASE), when the machine has them.
        http_ports: its plain-HTTP ports (a web server's port 80, where ACME http-01
            tokens are fetched); no two programs of a host share one.
    """

    name: ClassVar[str]
    ports: ClassVar[Ports]
    default: ClassVar[bool] = False
    starts_early: ClassVar[bool] = False
    seed_dir: ClassVar[str | None] = None
    start_timeout: ClassVar[float] = 45.0
    var_lib_copies: ClassVar[tuple[str, ...]] = ()
    http_ports: ClassVar[tuple[int, ...]] = ()

    @abstractmethod
    def install(self, ctx: LabContext) -> None:
        """Write the program's configuration and TLS files into the host tree."""

    @abstractmethod
    def service(self, ctx: LabContext) -> ServiceEntry:
        """Its service-table entry: start, reload, stop, pid file, user, logs, endpoints."""

    def files_only(self, tree: LabTree) -> None:
        """Complete a files-only host, whose programs never start (nothing by default)."""
        return None

    def usr_layer(self) -> Path | None:
        """A directory whose ``usr/`` a running host sees beneath its ``/usr``, or None.

        For a program whose packages cannot be installed on this machine (they
        conflict with another program's): they are unpacked into a cache, and each host
        running the program mounts that ``usr/`` under the machine's (read-only
        overlay, the machine's files first), so its binaries are where the
        packages put them.
        """
        return None

    def endpoints(self, address: str) -> tuple[Endpoint, ...]:
        return tuple(Endpoint(address, port, tls) for port, tls in self.ports)


def sh(script: str, log: str) -> tuple[str, ...]:
    """A start command: ``script`` in sh, every output going to ``log`` (never to our pipes)."""
    return ("sh", "-c", f"exec >>{log} 2>&1 </dev/null; {script}")


def foreground(pid_file: str, argv: str, log: str, *, before: str = "",
               stdin: str = "/dev/null") -> tuple[str, ...]:
    """A start command for a program that stays in the foreground.

    ``setsid -f`` detaches a shell that writes its own pid to ``pid_file`` and
    then becomes the program, so the table's pid is the program's.
    """
    inner = f"exec <>{stdin} >>{log} 2>&1; {before}echo $$ >{pid_file}; exec {argv}"
    return ("setsid", "-f", "sh", "-c", inner)
