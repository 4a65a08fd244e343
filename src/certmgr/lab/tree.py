"""A lab host's own file tree: ``<lab>/<host>/`` with ``etc``, ``var/lib``, ``var/log``...

The tree starts as a copy of this machine's ``/etc`` (the installed packages'
configuration, exactly as Debian left it) and fresh ``/var`` directories; the
lab then writes its own files into it. Inside the host these directories are
bind-mounted over ``/etc``, ``/var/lib``..., so every path here is given as the
host's programs see it (``/etc/apache2/...``) and mapped to the tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from certmgr import atomicfile
from certmgr.errors import LabError
from certmgr.hosts.base import parse_group, parse_passwd
from certmgr.hosts.lab import BIND_DIRS, in_own_dirs

__all__ = ["BIND_DIRS", "HostTree", "template"]

_ROOT = os.geteuid() == 0
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")



def template(name: str, **values: str) -> str:
    """A template of ``certmgr/lab/templates`` with every ``@KEY@`` replaced by its value."""
    node = resources.files("certmgr.lab").joinpath("templates")
    for part in name.split("/"):
        node = node.joinpath(part)
    text = node.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = _PLACEHOLDER.search(text)
    if leftover:
        raise LabError(f"template {name}: no value for {leftover.group(0)}")
    return text


class HostTree:
    """Writes files into a host's tree with owners resolved from the host's own ``/etc``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, host_path: str) -> Path:
        """Where the host's ``host_path`` is on this machine (it must be under a bind dir)."""
        if not in_own_dirs(host_path):
            raise LabError(f"{host_path} is not in a directory the lab host owns "
                           f"({', '.join(BIND_DIRS)})")
        return self.root / host_path.lstrip("/")

    # -- creation ------------------------------------------------------------

    def create(self, var_lib_copies: tuple[str, ...] = ()) -> None:
        """Copy this machine's /etc and make the empty /var directories (0711 on the way).

        ``var_lib_copies``: directories of this machine's /var/lib the programs need a
        copy of (their lab parts say which), copied when they exist.
        """
        self.root.mkdir(mode=0o711, parents=True, exist_ok=False)
        os.chmod(self.root, 0o711)  # noqa: S103 - openldap/postfix must traverse it
        # cp -a keeps owners, modes and symlinks exactly, in one process.
        proc = subprocess.run(["cp", "-a", "/etc", str(self.root / "etc")],
                              capture_output=True, text=True, check=False)
        # Without root (--files-only) a few files (/etc/shadow...) cannot be copied: fine.
        if proc.returncode != 0 and (_ROOT or not (self.root / "etc/passwd").exists()):
            raise LabError(f"copying /etc into {self.root} failed: {proc.stderr.strip()}")
        var = self.root / "var"
        var.mkdir(mode=0o755)
        for name in ("lib", "spool", "log", "cache"):
            (var / name).mkdir(mode=0o755)
        (var / "tmp").mkdir()
        os.chmod(var / "tmp", 0o1777)  # noqa: S103 - sticky like every /var/tmp
        for name in var_lib_copies:
            source = Path("/var/lib") / name
            if source.is_dir():
                copy = subprocess.run(["cp", "-a", str(source), str(var / "lib" / name)],
                                      capture_output=True, text=True, check=False)
                if copy.returncode != 0:
                    raise LabError(f"copying {source} into {self.root} failed: "
                                   f"{copy.stderr.strip()}")
        self._make_root_home()
        self._forget_users()

    def _make_root_home(self) -> None:
        """The host's own ``/root``: a fresh server's, from ``/etc/skel``.

        sshd runs every command through root's shell, and bash started by sshd reads
        ``~/.bashrc``: this machine's (a developer's, with pyenv and the like) cost
        about 100 ms of CPU per command, which is not what a server pays.
        """
        home = self.root / "root"
        home.mkdir(mode=0o700)
        for name in (".bashrc", ".profile"):
            skel = Path("/etc/skel") / name
            if skel.is_file():
                shutil.copyfile(skel, home / name)

    # -- users and groups of the host ----------------------------------------

    def _forget_users(self) -> None:
        self._users: dict[str, tuple[int, int]] | None = None
        self._groups: dict[str, tuple[int, set[str]]] | None = None

    def uid(self, user: str) -> int:
        if getattr(self, "_users", None) is None:
            self._users = parse_passwd((self.root / "etc/passwd").read_text())
        assert self._users is not None
        if user not in self._users:
            raise LabError(f"user {user} does not exist in {self.root}/etc/passwd: "
                           "is its package installed?")
        return self._users[user][0]

    def gid(self, group: str) -> int:
        if getattr(self, "_groups", None) is None:
            self._groups = parse_group((self.root / "etc/group").read_text())
        assert self._groups is not None
        if group not in self._groups:
            raise LabError(f"group {group} does not exist in {self.root}/etc/group: "
                           "is its package installed?")
        return self._groups[group][0]

    def add_to_group(self, group: str, user: str) -> None:
        """Add ``user`` to ``group`` in the host's own /etc/group (as Debian's postinst do)."""
        path = self.root / "etc/group"
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            fields = line.split(":")
            if len(fields) == 4 and fields[0] == group:
                members = [m for m in fields[3].split(",") if m]
                if user not in members:
                    fields[3] = ",".join([*members, user])
                    lines[i] = ":".join(fields)
        path.write_text("\n".join(lines) + "\n")
        self._forget_users()

    # -- files ---------------------------------------------------------------

    def mkdir(self, host_path: str, *, mode: int = 0o755, owner: str = "root",
              group: str = "root") -> None:
        """Create a directory (and missing parents, root-owned 0755) with this owner and mode."""
        real = self.path(host_path)
        real.parent.mkdir(parents=True, exist_ok=True)
        real.mkdir(mode=0o700, exist_ok=True)
        self._chown(real, owner, group)
        os.chmod(real, mode)

    def write(self, host_path: str, data: bytes | str, *, mode: int = 0o644,
              owner: str = "root", group: str = "root") -> None:
        """Write a file with its final mode from the first byte (keys are never wider).

        An existing file is replaced: the new one is created beside it with
        O_EXCL and renamed over it.
        """
        real = self.path(host_path)
        real.parent.mkdir(parents=True, exist_ok=True)
        payload = data.encode() if isinstance(data, str) else data
        uid, gid = self.uid(owner), self.gid(group)
        # Without root (a files-only lab) files stay ours; modes are still exact.
        atomicfile.write_atomic(real, payload, mode=mode, uid=uid if _ROOT else None,
                                gid=gid if _ROOT else None)

    def _chown(self, target: Path | int, owner: str, group: str) -> None:
        # Without root (a files-only lab) files stay ours; modes are still exact.
        uid, gid = self.uid(owner), self.gid(group)
        if _ROOT:
            os.chown(target, uid, gid)

    def symlink(self, host_path: str, target: str) -> None:
        """Make ``host_path`` a symlink to ``target`` (as the host resolves it), replacing any."""
        real = self.path(host_path)
        if real.is_symlink() or real.exists():
            real.unlink()
        real.symlink_to(target)

    def remove(self, host_path: str) -> None:
        """Remove a file, symlink or directory tree of the host, if present."""
        real = self.path(host_path)
        if real.is_symlink() or real.is_file():
            real.unlink()
        elif real.is_dir():
            shutil.rmtree(real)
