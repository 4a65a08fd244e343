"""A lab host's own file tree: ``<lab>/<host>/`` with ``etc``, ``var/lib``, ``var/log``...

The tree starts as a copy of this machine's ``/etc`` (the installed packages'
configuration, exactly as Debian left it) and fresh ``/var`` directories; the
lab then writes its own files into it. Inside the host these directories are
bind-mounted over ``/etc``, ``/var/lib``..., so every path here is given as the
host's programs see it (``/etc/apache2/...``) and mapped to the tree.

A files-only lab runs on any machine: the system accounts it needs and this
machine lacks (their packages are not installed) are created in the tree's own
``/etc``, and without root, where every file stays ours, the tree's ``/etc/group``
lets the accounts a file was meant for in through the group the file really has.
"""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from certmgr import atomicfile
from certmgr.errors import LabError
from certmgr.hosts.base import Accounts, parse_group, parse_passwd
from certmgr.hosts.lab import BIND_DIRS, in_own_dirs

__all__ = ["BIND_DIRS", "HostTree", "template"]

_ROOT = os.geteuid() == 0
_PLACEHOLDER = re.compile(r"@[A-Z_]+@")


# The /etc a host's tree starts as a copy of.
SOURCE_ETC = Path("/etc")

# The ids Debian gives the system accounts a package creates (adduser --system).
_SYSTEM_IDS = range(100, 1000)


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
    """Writes files into a host's tree with owners resolved from the host's own ``/etc``.

    ``files_only``: the tree of a files-only lab, which creates in its own ``/etc`` an
    account it needs and this machine lacks; a running lab needs the programs'
    packages, and so their accounts, and says so when one is missing.
    """

    def __init__(self, root: Path, *, files_only: bool = False) -> None:
        self.root = root
        self.files_only = files_only
        self._shared: set[str] = set()  # groups a file was meant for (files-only, no root)
        self._forget_users()

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
        proc = subprocess.run(["cp", "-a", str(SOURCE_ETC), str(self.root / "etc")],
                              capture_output=True, text=True, check=False)
        # Without root (--files-only) a few files (/etc/shadow...) cannot be copied: fine.
        if proc.returncode != 0 and (_ROOT or not (self.root / "etc/passwd").exists()):
            raise LabError(f"copying {SOURCE_ETC} into {self.root} failed: "
                           f"{proc.stderr.strip()}")
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
        if self.files_only:
            self._lay_stock()
        self._forget_users()

    def _lay_stock(self) -> None:
        """Debian's own files the programs build on, each one this machine lacks.

        ``templates/stock``: where a program's package is not installed, its
        ``/etc`` directory is missing or holds only what other packages put there
        (git's ``/etc/apache2/conf-available/gitweb.conf``).
        """
        _lay_missing(resources.files("certmgr.lab").joinpath("templates", "stock", "etc"),
                     self.root / "etc")

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

    def _passwd(self) -> dict[str, tuple[int, int]]:
        if self._users is None:
            self._users = parse_passwd((self.root / "etc/passwd").read_text())
        return self._users

    def _group(self) -> dict[str, tuple[int, set[str]]]:
        if self._groups is None:
            self._groups = parse_group((self.root / "etc/group").read_text())
        return self._groups

    def uid(self, user: str) -> int:
        if user not in self._passwd():
            if not self.files_only:
                raise LabError(f"user {user} does not exist in {self.root}/etc/passwd: "
                               "is its package installed?")
            self._add_user(user)
        return self._passwd()[user][0]

    def gid(self, group: str) -> int:
        if group not in self._group():
            if not self.files_only:
                raise LabError(f"group {group} does not exist in {self.root}/etc/group: "
                               "is its package installed?")
            self._add_group(group)
        return self._group()[group][0]

    def _add_user(self, user: str) -> None:
        """A system account with a group of its own, as its package's adduser --system makes."""
        gid = self.gid(user)
        uid = _free_id({uid for uid, _gid in self._passwd().values()}, prefer=gid,
                       what=f"user {user} in {self.root}/etc/passwd")
        self._append("etc/passwd", f"{user}:x:{uid}:{gid}::/nonexistent:/usr/sbin/nologin")

    def _add_group(self, group: str, gid: int | None = None) -> None:
        if gid is None:
            gid = _free_id({gid for gid, _members in self._group().values()}, prefer=None,
                           what=f"group {group} in {self.root}/etc/group")
        self._append("etc/group", f"{group}:x:{gid}:")

    def _append(self, name: str, line: str) -> None:
        path = self.root / name
        text = path.read_text()
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")
        self._forget_users()

    def add_to_group(self, group: str, user: str) -> None:
        """Add ``user`` to ``group`` in the host's own /etc/group (as Debian's postinst do)."""
        self._add_members(group, {user})
        if group in self._shared:
            self._share_our_group({user})

    def _add_members(self, group: str, users: set[str]) -> None:
        path = self.root / "etc/group"
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            fields = line.split(":")
            if len(fields) == 4 and fields[0] == group:
                members = [m for m in fields[3].split(",") if m]
                fields[3] = ",".join([*members, *sorted(users - set(members))])
                lines[i] = ":".join(fields)
        path.write_text("\n".join(lines) + "\n")
        self._forget_users()

    def _share(self, owner: str, group: str) -> None:
        """Without root a file stays ours: let in the accounts it was meant for.

        ``owner`` and the members of ``group`` become members, in the tree's own
        /etc/group, of the group the file really has (ours), so the host's account
        database agrees with what the lab meant: the program may read its files.
        """
        names = {owner} - {"root"}
        if group != "root":
            self._shared.add(group)
            accounts = Accounts(self._passwd(), self._group())
            names |= accounts.members(group) - {"root"}
        if names:
            self._share_our_group(names)

    def _share_our_group(self, users: set[str]) -> None:
        ours = os.getegid()
        name = next((n for n, (gid, _m) in self._group().items() if gid == ours), None)
        if name is None:
            try:
                name = grp.getgrgid(ours).gr_name
            except KeyError:
                name = "certmgr-lab"
            self._add_group(name, ours)
        if not users <= self._group()[name][1]:
            self._add_members(name, users)

    def add_system_user(self, name: str) -> None:
        """Create system user ``name`` with its own group in the host's own /etc, as a
        package's postinst does (``adduser --system --group``); nothing if it exists."""
        if name not in self._group():
            self._add_group(name)
        if name not in self._passwd():
            self._add_user(name)

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
        elif self.files_only:
            self._share(owner, group)

    def symlink(self, host_path: str, target: str) -> None:
        """Make ``host_path`` a symlink to ``target`` (as the host resolves it), replacing any."""
        real = self.path(host_path)
        real.parent.mkdir(parents=True, exist_ok=True)
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


def _free_id(used: set[int], *, prefer: int | None, what: str) -> int:
    """A system id (100-999) that ``used`` lacks, ``prefer`` if it is free."""
    if prefer is not None and prefer in _SYSTEM_IDS and prefer not in used:
        return prefer
    for candidate in _SYSTEM_IDS:
        if candidate not in used:
            return candidate
    raise LabError(f"no free system id (100-999) for {what}")


def _lay_missing(node: Traversable, target: Path) -> None:
    target.mkdir(mode=0o755, exist_ok=True)
    for child in node.iterdir():
        if child.is_dir():
            _lay_missing(child, target / child.name)
        elif not (target / child.name).is_symlink() and not (target / child.name).exists():
            fd = os.open(target / child.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "wb") as fh:
                fh.write(child.read_bytes())
