"""Exim on a lab host, as Debian runs it: SMTP 25 and submission 587 (STARTTLS), 465 (TLS).

Exim and Postfix both provide ``mail-transport-agent``, so Debian installs one or
the other: where this machine has no ``/usr/sbin/exim4``, the lab fetches
``exim4-base exim4-config exim4-daemon-light`` with ``apt-get download`` into
:data:`CACHE` and unpacks them there (``dpkg -x``, nothing is installed); each
host running Exim sees their ``/usr`` beneath its own (:meth:`usr_layer`).
Libraries ``ldd`` reports missing (``libidn12``) are installed normally; the
``Debian-exim`` user is created in the host's own ``/etc`` only.

The host's configuration is Debian's unsplit default (the package's template,
``update-exim4.conf.conf``) with TLS switched on the way README.Debian says:
the macros in ``exim4.conf.localmacros``, ``tls_on_connect_ports = 465`` and
``SMTPLISTENEROPTIONS='-oX 465:25:587 ...'`` in ``/etc/default/exim4``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import ClassVar

from certmgr.errors import LabError
from certmgr.hosts.servicetable import ServiceEntry
from certmgr.models import TlsMode
from certmgr.programs.lab import LabContext, LabProgram, LabTree, Ports, sh

__all__ = ["CACHE", "LAB", "PACKAGES", "Exim4Lab", "packages_root"]

CACHE = Path("/var/cache/certmgr-lab/exim4")
PACKAGES = ("exim4-base", "exim4-config", "exim4-daemon-light")
# The Debian package of each library the unpacked binary needs and the machine may lack.
LIBRARIES = {"libidn.so.12": "libidn12"}
_INSTALLED = Path("/usr/sbin/exim4")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_USER = "Debian-exim"


def _run(argv: list[str], what: str, cwd: Path | None = None) -> str:
    env = {"PATH": _PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd,
                              env=env, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what} failed: {' '.join(argv)}: {exc}") from None
    if proc.returncode != 0:
        detail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabError(f"{what} failed: {' '.join(argv)}: {detail[0]}")
    return proc.stdout


def _unpacked() -> Path | None:
    """Where Exim's packages are unpacked (fetched now if missing); None when installed."""
    if _INSTALLED.exists():
        return None
    root = CACHE / "root"
    if not (root / "usr/sbin/exim4").exists():
        _fetch(root)
    return root


def packages_root() -> Path | None:
    """:func:`_unpacked`, with the libraries its binary needs to run installed."""
    root = _unpacked()
    if root is not None:
        _libraries(root / "usr/sbin/exim4")
    return root


def _fetch(root: Path) -> None:
    if os.geteuid() != 0:
        raise LabError(f"the lab's Exim needs {', '.join(PACKAGES)} unpacked in {CACHE}: run "
                       ".ci/install-packages (or certmgr lab up) as root once")
    CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=CACHE))
    try:
        work.chmod(0o755)  # apt-get download runs as _apt where it can
        _run(["apt-get", "download", *PACKAGES], "downloading Exim's packages", cwd=work)
        unpacked = work / "root"
        for deb in sorted(work.glob("*.deb")):
            _run(["dpkg", "-x", str(deb), str(unpacked)], f"unpacking {deb.name}")
        if not (unpacked / "usr/sbin/exim4").exists():
            raise LabError(f"{', '.join(PACKAGES)} hold no usr/sbin/exim4")
        unpacked.rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _libraries(binary: Path) -> None:
    """Install (apt-get) the libraries ``ldd`` says the unpacked binary lacks."""
    missing = re.findall(r"^\s*(\S+) => not found", _run(["ldd", str(binary)], "ldd"), re.M)
    if not missing:
        return
    unknown = [lib for lib in missing if lib not in LIBRARIES]
    if unknown:
        raise LabError(f"{binary} needs {', '.join(unknown)}, which this machine lacks: "
                       "install the packages that hold them")
    if os.geteuid() != 0:
        raise LabError(f"{binary} needs {', '.join(LIBRARIES[lib] for lib in missing)}: run "
                       ".ci/install-packages as root")
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
          *dict.fromkeys(LIBRARIES[lib] for lib in missing)], "installing Exim's libraries")


class Exim4Lab(LabProgram):
    name: ClassVar[str] = "exim4"
    ports: ClassVar[Ports] = ((25, TlsMode.STARTTLS_SMTP), (587, TlsMode.STARTTLS_SMTP),
                              (465, TlsMode.DIRECT))

    def usr_layer(self) -> Path | None:
        return packages_root()

    def install(self, ctx: LabContext) -> None:
        t = ctx.tree
        self._conffiles(t)
        t.add_system_user(_USER)
        cert, key = ctx.pem_pair(self.name, "smtp.example.com", (), key_group=_USER)
        if ctx.layout == "debian":
            t.add_to_group("ssl-cert", _USER)  # the snakeoil key is root:ssl-cert 0640
        t.write("/etc/exim4/update-exim4.conf.conf",
                ctx.template("exim4/update-exim4.conf.conf"))
        t.write("/etc/exim4/exim4.conf.localmacros",
                ctx.template("exim4/exim4.conf.localmacros", CERT=cert, KEY=key))
        t.write("/etc/default/exim4", ctx.template("exim4/default"))
        t.write("/etc/mailname", "smtp.example.com\n")
        t.mkdir("/var/lib/exim4", mode=0o750, group=_USER)
        t.mkdir("/var/spool/exim4", mode=0o750, owner=_USER, group=_USER)
        t.mkdir("/var/log/exim4", mode=0o750, owner=_USER, group=_USER)

    @staticmethod
    def _conffiles(t: LabTree) -> None:
        """The package's /etc/exim4 (the template, conf.d), as installing it would leave it."""
        root = _unpacked()
        source = (root / "etc/exim4") if root is not None else Path("/etc/exim4")
        if not (source / "exim4.conf.template").exists():
            raise LabError(f"Exim's packages are not unpacked in {CACHE} and not installed: "
                           "run .ci/install-packages as root")
        for path in sorted(source.rglob("*")):
            rel = "/etc/exim4/" + str(path.relative_to(source))
            if path.is_dir():
                t.mkdir(rel)
            elif path.is_file():
                t.write(rel, path.read_bytes(), mode=path.stat().st_mode & 0o777)

    def service(self, ctx: LabContext) -> ServiceEntry:
        log = "/var/log/exim4/startup.log"
        # Debian's init script: update-exim4.conf, exim4 -bV, then the daemon with
        # SMTPLISTENEROPTIONS; its reload regenerates, tests and sends SIGHUP.
        start = sh("install -d -o Debian-exim -g Debian-exim -m 0750 /run/exim4 && "
                   "update-exim4.conf && exim4 -bV >/dev/null && . /etc/default/exim4 && "
                   "exim4 -bd -q30m $SMTPLISTENEROPTIONS", log)
        reload = ("sh", "-c", "update-exim4.conf && exim4 -bV >/dev/null && "
                              'kill -HUP "$(cat /run/exim4/exim.pid)"')
        return ServiceEntry(
            name=self.name, user=_USER, start=start, reload=reload,
            pid_file="/run/exim4/exim.pid",
            logs=(log, "/var/log/exim4/mainlog", "/var/log/exim4/paniclog"),
            endpoints=self.endpoints(ctx.address),
        )


LAB = Exim4Lab()
