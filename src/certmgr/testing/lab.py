"""The lab as a pytest fixture: one running lab shared by every ``lab`` test of a session.

``tests/conftest.py`` registers :func:`lab_fixture` as the session-scoped
fixture ``lab``; a test takes ``lab: RunningLab`` and is marked
``@pytest.mark.lab``. Without root (or without the programs) the fixture
skips, and under ``CI=true`` it fails (:func:`certmgr.testing.skip_or_fail`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from certmgr.hosts.lab import LabHost
from certmgr.lab import LabState, lab_down, lab_up
from certmgr.testing import skip_or_fail

__all__ = ["LAB_PROGRAM_BINARIES", "RunningLab", "lab_fixture", "lab_missing", "running_lab"]

LAB_PROGRAM_BINARIES = ("slapd", "apache2", "vsftpd", "postfix", "dovecot", "sshd", "nsenter",
                        "unshare", "ip", "setpriv", "curl", "ldapmodify")
_SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class RunningLab:
    """A lab that is up: its state and its hosts."""

    dir: Path
    state: LabState

    @property
    def hosts(self) -> list[LabHost]:
        return [h.host() for h in self.state.hosts]

    def expected(self, host: str, kind: str) -> str:
        """The SHA-256 of the certificate the lab gave ``kind`` on ``host``."""
        return next(h for h in self.state.hosts if h.name == host).expected[kind]


def lab_missing() -> str | None:
    """Why a lab cannot run here (not root, a program missing), or None if it can."""
    if os.geteuid() != 0:
        return "the lab needs root (network and mount namespaces)"
    missing = [b for b in LAB_PROGRAM_BINARIES if shutil.which(b, path=_SBIN) is None]
    if not Path("/usr/share/tomcat10/bin/catalina.sh").exists():
        missing.append("tomcat10")
    if missing:
        return f"the lab needs {', '.join(missing)} (run .ci/install-packages as root)"
    return None


def running_lab(lab_dir: Path, *, hosts: int = 1, layout: str = "seed",
                programs: list[str] | None = None) -> Iterator[RunningLab]:
    """Bring a lab up in ``lab_dir``, yield it, and always take it down again."""
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    try:
        state = lab_up(lab_dir, hosts=hosts, layout=layout, programs=programs)
        yield RunningLab(lab_dir, state)
    finally:
        lab_down(lab_dir)


def lab_fixture(lab_dir: Path) -> Iterator[RunningLab]:
    """The session lab: two seed-layout hosts (lab1, lab2) with all six programs."""
    yield from running_lab(lab_dir, hosts=2)
