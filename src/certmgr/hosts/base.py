"""The host seam: where files live and commands run.

A :class:`Host` is files + a command runner + an address. Discovery and checks
only read through it; only ``deploy`` writes (through ``certmgr.deploy``'s
file-operations module, on top of the write methods hosts add). Paths given to
a host are always *as the program sees them* (``/etc/apache2/...``); a host
maps them to where they really are (a ``--root`` tree, a lab tree, SFTP).
"""

from __future__ import annotations

import posixpath
import stat as stat_mod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "Accounts",
    "CommandResult",
    "FileStat",
    "Host",
    "LinkFreeStat",
    "ManyStats",
    "WritableHost",
    "parse_group",
    "parse_passwd",
    "prefixes",
    "resolve_ids",
    "stat_many",
]


@dataclass(frozen=True)
class FileStat:
    """What ``lstat``/``stat`` says of a file, with owner and group names resolved on the host."""

    path: str
    mode: int  # permission bits only (0o7777)
    uid: int
    gid: int
    owner: str
    group: str
    size: int
    is_dir: bool
    is_file: bool
    is_symlink: bool
    mtime: float

    @classmethod
    def from_st_mode(
        cls,
        path: str,
        st_mode: int,
        uid: int,
        gid: int,
        size: int,
        mtime: float,
        users: dict[int, str],
        groups: dict[int, str],
    ) -> FileStat:
        return cls(
            path=path,
            mode=stat_mod.S_IMODE(st_mode),
            uid=uid,
            gid=gid,
            owner=users.get(uid, str(uid)),
            group=groups.get(gid, str(gid)),
            size=size,
            is_dir=stat_mod.S_ISDIR(st_mode),
            is_file=stat_mod.S_ISREG(st_mode),
            is_symlink=stat_mod.S_ISLNK(st_mode),
            mtime=mtime,
        )


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one command run on a host."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@runtime_checkable
class Host(Protocol):
    """Files and commands of one machine, addressed by the paths its programs use.

    Attributes:
        name: how the user names the host: ``local``, ``lab:lab1``, ``ssh://root@198.18.0.2``.
        address: where network probes go (an IP or name), or None if unknown.
        can_run: False for a files-only host (``--root DIR``): ``run`` raises.
    """

    name: str
    address: str | None
    can_run: bool

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        """Return the file's bytes (at most ``limit``). Raises HostError if unreadable."""
        ...

    def exists(self, path: str) -> bool:
        """True if the path exists (a dangling symlink counts as not existing)."""
        ...

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat | None:
        """The file's status, or None if it does not exist."""
        ...

    def listdir(self, path: str) -> list[str]:
        """Names in a directory, sorted. Raises HostError if it is not a readable directory."""
        ...

    def glob(self, pattern: str) -> list[str]:
        """Paths matching a shell pattern (as the program sees them), sorted."""
        ...

    def realpath(self, path: str) -> str:
        """The path with symlinks resolved, inside the host's own tree."""
        ...

    def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        """Run a command on the host. Raises CommandFailed when ``check`` and it fails."""
        ...

    def which(self, program: str) -> str | None:
        """The program's path on the host, or None. Always None on a files-only host."""
        ...

    def users(self) -> dict[int, str]:
        """uid -> user name, from the host's own ``/etc/passwd``."""
        ...

    def groups(self) -> dict[int, str]:
        """gid -> group name, from the host's own ``/etc/group``."""
        ...

    def group_members(self, group: str) -> set[str]:
        """Users in a group: its member list plus users whose primary group it is."""
        ...


@runtime_checkable
class ManyStats(Protocol):
    """A host that answers several stat calls in one round trip (SSH: pipelined SFTP).

    Optional: :func:`stat_many` uses it where a host has it, and falls back to one
    :meth:`Host.stat` per path where it has not.
    """

    def stat_many(self, paths: list[str], *,
                  follow_symlinks: bool = True) -> list[FileStat | None]:
        """``[host.stat(p, follow_symlinks=...) for p in paths]``, in one round trip."""
        ...


@runtime_checkable
class LinkFreeStat(Protocol):
    """A host that checks a whole path for symlinks in one round trip (SSH: REALPATH).

    Optional: ``certmgr.deploy.fsops`` uses it where a host has it, and lstat's
    every component through :func:`stat_many` where it has not.
    """

    def lstat_link_free(self, path: str) -> tuple[bool, FileStat | None]:
        """Whether ``path``'s parent is an existing directory, and ``path``'s lstat (None: missing).

        Raises:
            HostError: an existing component of ``path`` (itself included) is a symlink.
        """
        ...


def stat_many(host: Host, paths: list[str], *,
              follow_symlinks: bool = True) -> list[FileStat | None]:
    """The status of each path (None: missing), in one round trip where the host can."""
    if isinstance(host, ManyStats):
        return host.stat_many(paths, follow_symlinks=follow_symlinks)
    return [host.stat(p, follow_symlinks=follow_symlinks) for p in paths]


def prefixes(path: str) -> list[str]:
    """``/a/b/c`` -> ``["/a", "/a/b", "/a/b/c"]`` (the path normalised first)."""
    parts = [p for p in normalize(path).split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass(frozen=True)
class Accounts:
    """A host's users and groups, from its own ``/etc/passwd`` and ``/etc/group``."""

    passwd: dict[str, tuple[int, int]]
    group: dict[str, tuple[int, set[str]]]

    @classmethod
    def parse(cls, passwd_text: str, group_text: str) -> Accounts:
        return cls(parse_passwd(passwd_text), parse_group(group_text))

    def users(self) -> dict[int, str]:
        """uid -> name (the first name of a uid wins, as getpwuid does)."""
        out: dict[int, str] = {}
        for name, (uid, _gid) in self.passwd.items():
            out.setdefault(uid, name)
        return out

    def groups(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for name, (gid, _members) in self.group.items():
            out.setdefault(gid, name)
        return out

    def members(self, group: str) -> set[str]:
        """A group's member list plus the users whose primary group it is."""
        if group not in self.group:
            return set()
        gid, members = self.group[group]
        return members | {u for u, (_uid, pgid) in self.passwd.items() if pgid == gid}


def parse_passwd(text: str) -> dict[str, tuple[int, int]]:
    """``/etc/passwd`` text -> user name -> (uid, primary gid). Bad lines are skipped."""
    out: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and not line.startswith("#"):
            try:
                out[fields[0]] = (int(fields[2]), int(fields[3]))
            except ValueError:
                continue
    return out


def parse_group(text: str) -> dict[str, tuple[int, set[str]]]:
    """``/etc/group`` text -> group name -> (gid, member names). Bad lines are skipped."""
    out: dict[str, tuple[int, set[str]]] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and not line.startswith("#"):
            try:
                gid = int(fields[2])
            except ValueError:
                continue
            members = {m for m in fields[3].split(",") if m} if len(fields) > 3 else set()
            out[fields[0]] = (gid, members)
    return out


def normalize(path: str) -> str:
    """An absolute, normalised program-side path; raises ValueError for a relative one."""
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} is not absolute")
    return posixpath.normpath(path).replace("//", "/")


def _no_checkpoint(name: str) -> None:
    """The default checkpoint callback of the write methods: does nothing."""


def check_temp_name(temp_name: str) -> None:
    """A write's temp file lives beside its target: its name must be a bare file name."""
    if "/" in temp_name or temp_name in ("", ".", ".."):
        raise ValueError(f"temp name {temp_name!r} must be a bare file name")


@runtime_checkable
class WritableHost(Host, Protocol):
    """A host certmgr may change. Only ``certmgr.deploy.fsops`` calls these methods.

    Every method refuses a path with a symbolic link in any component (HostError):
    a deployment never writes through a link someone else controls. Owners are
    numeric ids *on the host* (resolve names with :func:`resolve_ids`).
    """

    def write_file_atomic(
        self,
        path: str,
        data: bytes,
        *,
        uid: int,
        gid: int,
        mode: int,
        temp_name: str,
        checkpoint: Callable[[str], None] = _no_checkpoint,
    ) -> None:
        """Replace ``path`` with ``data`` so that readers see the old or the new file, whole.

        Creates ``temp_name`` (a bare name, in the target's directory) exclusively with
        ``mode`` or narrower (never broader, not even for an instant), sets ``uid``/``gid``
        and then exactly ``mode``, writes, fsyncs, renames over ``path`` and fsyncs the
        directory, calling ``checkpoint`` with ``"temp-write"``, ``"fsync"``,
        ``"rename"`` and ``"dir-fsync"`` before those steps.

        Raises:
            HostError: a component is a symlink, the directory is missing, or a step failed
                (the temp file is removed when it can be).
        """
        ...

    def read_link_free(self, path: str) -> tuple[bytes, FileStat] | None:
        """A regular file's bytes and its status, read without following a symlink anywhere
        in ``path`` (None: the file does not exist).

        The status is that of the file the bytes came from (fstat of the open file), so
        a file swapped for a link between a caller's lstat and this read is never read.
        Deploy reads the files it is about to replace (and compares at rollback) with it.

        Raises:
            HostError: a component is a symlink, the path is not a regular file, or it
                cannot be read.
        """
        ...

    def make_dir(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        """Create one directory (its parent must exist) with exactly this owner and mode."""
        ...

    def remove_file(self, path: str) -> None:
        """Unlink a file (or a symlink itself); a missing file is not an error."""
        ...

    def remove_dir(self, path: str) -> None:
        """Remove an empty directory; a missing one is not an error."""
        ...

    def set_owner_mode(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        """Set a file's or directory's owner, group and permission bits (no symlinks)."""
        ...


def resolve_ids(host: Host, owner: str, group: str) -> tuple[int, int]:
    """User and group names -> numeric ids on ``host``; numeric strings pass through.

    Raises:
        HostError: the host has no such user or group.
    """
    from certmgr.errors import HostError

    def lookup(name: str, table: dict[int, str], what: str) -> int:
        if name.isdigit():
            return int(name)
        for num, known in table.items():
            if known == name:
                return num
        raise HostError(f"{host.name} has no {what} {name!r}; create it or fix the "
                        "deployment's owner/group", host=host.name)

    return lookup(owner, host.users(), "user"), lookup(group, host.groups(), "group")
