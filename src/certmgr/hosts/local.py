"""The local machine, optionally seen through a ``--root`` directory.

``LocalHost()`` is this machine. ``LocalHost(root=DIR)`` treats ``DIR`` as the
filesystem root: every path read is ``DIR + path``, symlinks are resolved
inside ``DIR``, and the tree is files only (no commands run: the programs
in it are not this machine's).

The write methods (``write_file_atomic``, ``make_dir``...) walk every path one
component at a time with ``O_NOFOLLOW`` relative to the root, so they never
follow a symlink and never leave a ``--root`` tree.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import shutil
import stat as stat_mod
import subprocess
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

from certmgr import atomicfile
from certmgr.errors import CommandFailed, HostError
from certmgr.hosts.base import (
    Accounts,
    CommandResult,
    FileStat,
    _no_checkpoint,
    check_temp_name,
    normalize,
)

__all__ = ["LocalHost"]

_MAX_SYMLINKS = 40


def _search_path() -> str:
    """Where programs are looked for: the caller's PATH, then the admin directories."""
    return os.environ.get("PATH", "") + ":/usr/sbin:/sbin"


class LocalHost:
    """This machine, or a directory tree standing for one (``root``)."""

    def __init__(self, root: str | os.PathLike[str] | None = None, *, name: str = "local") -> None:
        self.root = Path(root).resolve() if root is not None else None
        self.name = name
        self.address: str | None = "127.0.0.1" if root is None else None
        self.can_run = root is None

    def __repr__(self) -> str:
        return f"LocalHost(root={str(self.root) if self.root else None!r})"

    # -- path mapping -------------------------------------------------------

    def local_path(self, path: str) -> Path:
        """Where a program-side path really is on this machine (no symlinks resolved)."""
        path = normalize(path)
        if self.root is None:
            return Path(path)
        return self.root / path.lstrip("/")

    def realpath(self, path: str) -> str:
        """Resolve symlinks component by component, never leaving the root."""
        if self.root is None:
            return os.path.realpath(normalize(path))
        parts = [p for p in normalize(path).split("/") if p]
        resolved = "/"
        hops = 0
        while parts:
            part = parts.pop(0)
            candidate = posixpath.join(resolved, part)
            real = self.local_path(candidate)
            if real.is_symlink():
                hops += 1
                if hops > _MAX_SYMLINKS:
                    raise HostError(f"too many levels of symbolic links at {candidate}", path=path)
                target = os.readlink(real)
                base = "/" if target.startswith("/") else resolved
                parts = [p for p in posixpath.normpath(posixpath.join(base, target)).split("/")
                         if p] + parts
                resolved = "/"
                continue
            resolved = posixpath.normpath(candidate)
        return resolved

    # -- reading -------------------------------------------------------------

    def _resolved(self, path: str) -> Path:
        return self.local_path(self.realpath(path)) if self.root is not None else Path(path)

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        real = self._resolved(path)
        try:
            with real.open("rb") as fh:
                return fh.read() if limit is None else fh.read(limit)
        except IsADirectoryError:
            raise HostError(f"{path} is a directory, not a file", path=path,
                            host=self.name) from None
        except FileNotFoundError:
            raise HostError(f"{path} does not exist", path=path, host=self.name) from None
        except PermissionError:
            raise HostError(f"{path} is not readable: permission denied", path=path,
                            host=self.name) from None
        except OSError as exc:
            raise HostError(f"cannot read {path}: {exc.strerror}", path=path,
                            host=self.name) from None

    def read_link_free(self, path: str) -> tuple[bytes, FileStat] | None:
        """A regular file's bytes and status, no symlink followed (None: it does not exist).

        The directory is walked as the writes walk it (O_NOFOLLOW, one component at a
        time), the file is opened relative to it with O_NOFOLLOW and O_NONBLOCK (a FIFO
        cannot hang the read), checked with fstat to be a regular file, and read from
        that descriptor: the bytes and the status are the same file's, whatever is
        swapped in at the path meanwhile.

        Raises:
            HostError: a component is a symlink, the path is not a regular file, or it
                cannot be read.
        """
        path = normalize(path)
        directory, name = posixpath.split(path)
        dfd = self._open_dir(directory)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                         | os.O_CLOEXEC, dir_fd=dfd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._read_error(path, exc) from None
        finally:
            os.close(dfd)
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode):
                raise HostError(f"{path} is not a regular file; certmgr reads only regular "
                                "files there", path=path, host=self.name)
            data = _read_all(fd)
        except OSError as exc:
            raise self._read_error(path, exc) from None
        finally:
            os.close(fd)
        return data, FileStat.from_st_mode(path, st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                           st.st_mtime, self.users(), self.groups())

    def _read_error(self, path: str, exc: OSError) -> HostError:
        if exc.errno == errno.ELOOP:
            return HostError(f"{path} is a symbolic link; certmgr does not read through links "
                             "(point the program at the real path)", path=path, host=self.name)
        return HostError(f"cannot read {path}: {exc.strerror}", path=path, host=self.name)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat | None:
        try:
            if follow_symlinks:
                real = self._resolved(path)
                st = real.stat()
            else:
                st = self.local_path(path).lstat()
        except (OSError, HostError):
            return None
        return FileStat.from_st_mode(normalize(path), st.st_mode, st.st_uid, st.st_gid,
                                     st.st_size, st.st_mtime, self.users(), self.groups())

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self._resolved(path)))
        except OSError as exc:
            raise HostError(f"cannot list {path}: {exc.strerror}", path=path,
                            host=self.name) from None

    def glob(self, pattern: str) -> list[str]:
        pattern = normalize(pattern)
        parts = [p for p in pattern.split("/") if p]
        found = ["/"]
        for part in parts:
            nxt: list[str] = []
            for base in found:
                if any(ch in part for ch in "*?["):
                    try:
                        names = self.listdir(base)
                    except HostError:
                        continue
                    nxt.extend(posixpath.join(base, n) for n in names
                               if fnmatch.fnmatchcase(n, part) and not n.startswith("."))
                else:
                    candidate = posixpath.join(base, part)
                    if self.stat(candidate, follow_symlinks=False) is not None:
                        nxt.append(candidate)
            found = nxt
        return sorted(found)

    # -- users and groups ----------------------------------------------------

    @cached_property
    def accounts(self) -> Accounts:
        """Users and groups of this host (of the tree, with ``--root``)."""
        texts = []
        for name in ("/etc/passwd", "/etc/group"):
            try:
                texts.append(self.local_path(name).read_text(errors="replace"))
            except OSError:
                texts.append("")
        return Accounts.parse(*texts)

    def users(self) -> dict[int, str]:
        return self.accounts.users()

    def groups(self) -> dict[int, str]:
        return self.accounts.groups()

    def group_members(self, group: str) -> set[str]:
        return self.accounts.members(group)

    # -- commands ------------------------------------------------------------

    def which(self, program: str) -> str | None:
        if not self.can_run:
            return None
        return shutil.which(program, path=_search_path())

    def run(
        self,
        argv: list[str],
        *,
        input: bytes | None = None,
        timeout: float = 60.0,
        check: bool = True,
    ) -> CommandResult:
        if not self.can_run:
            raise HostError(
                f"cannot run {argv[0]} on a files-only tree ({self.root}); use a host instead",
                host=self.name,
            )
        # Found where which() finds it: a normal user's PATH often lacks /usr/sbin.
        executable = argv[0] if "/" in argv[0] else self.which(argv[0])
        try:
            if executable is None:
                raise FileNotFoundError(argv[0])
            proc = subprocess.run(argv, executable=executable, input=input,
                                  capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError:
            raise HostError(f"{argv[0]} is not installed on {self.name}", host=self.name) from None
        except subprocess.TimeoutExpired:
            raise HostError(f"{' '.join(argv)} did not finish within {timeout:g}s",
                            host=self.name) from None
        result = CommandResult(tuple(argv), proc.returncode,
                               proc.stdout.decode(errors="replace"),
                               proc.stderr.decode(errors="replace"))
        if check and not result.ok:
            last = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise CommandFailed(
                f"{argv[0]} exited {result.returncode} on {self.name}: {last[0]}",
                command=list(argv), returncode=result.returncode, stderr=result.stderr,
                host=self.name,
            )
        return result

    # -- writing (only certmgr.deploy.fsops calls these) -----------------------

    def _open_dir(self, path: str) -> int:
        """An fd on directory ``path``, walked one component at a time with O_NOFOLLOW.

        Walking with ``dir_fd`` and O_NOFOLLOW refuses a symlink anywhere in the path
        (also one swapped in while we walk), inside a ``--root`` tree as on /.
        """
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        # local_path says where the directory really is (subclasses map some trees
        # elsewhere); the walk starts at the root it lies under.
        real = self.local_path(path)
        start = Path("/")
        if self.root is not None and real.is_relative_to(self.root):
            start = self.root
        fd = os.open(start, flags)
        try:
            for part in real.relative_to(start).parts:
                try:
                    nxt = os.open(part, flags, dir_fd=fd)
                except OSError as exc:
                    raise self._write_error(path, part, fd, exc) from None
                os.close(fd)
                fd = nxt
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _write_error(self, path: str, part: str, dir_fd: int, exc: OSError) -> HostError:
        try:
            st = os.lstat(part, dir_fd=dir_fd)
        except OSError:
            st = None
        if st is not None and stat_mod.S_ISLNK(st.st_mode):
            return HostError(f"{path}: {part} is a symbolic link; certmgr does not write "
                             "through links (point the program at the real path)",
                             path=path, host=self.name)
        if exc.errno == errno.ENOENT:
            return HostError(f"{path}: directory {part} does not exist", path=path,
                             host=self.name)
        return HostError(f"cannot open {path}: {exc.strerror}", path=path, host=self.name)

    def _check_ids(self, path: str, uid: int, gid: int) -> None:
        if os.geteuid() != 0 and (uid != os.geteuid() or gid not in os.getgroups()):
            raise HostError(f"cannot give {path} to uid {uid}/gid {gid}: certmgr must run "
                            "as root to set owners", path=path, host=self.name)

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
        path = normalize(path)
        directory, name = posixpath.split(path)
        check_temp_name(temp_name)
        self._check_ids(path, uid, gid)
        dfd = self._open_dir(directory)
        try:
            self._write_in(dfd, path, name, data, uid, gid, mode, temp_name, checkpoint)
        finally:
            os.close(dfd)

    def _write_in(self, dfd: int, path: str, name: str, data: bytes, uid: int, gid: int,
                  mode: int, temp_name: str, checkpoint: Callable[[str], None]) -> None:
        try:
            atomicfile.write_in(dfd, name, data, mode=mode, uid=uid, gid=gid,
                                temp_name=temp_name, checkpoint=checkpoint)
        except atomicfile.TempFileError as exc:
            raise HostError(f"cannot create a temp file next to {path}: {exc.strerror}",
                            path=path, host=self.name) from None
        except OSError as exc:
            raise HostError(f"cannot write {path}: {exc.strerror}", path=path,
                            host=self.name) from None

    def make_dir(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        path = normalize(path)
        parent, name = posixpath.split(path)
        self._check_ids(path, uid, gid)
        dfd = self._open_dir(parent)
        try:
            try:
                # 0o700 first: nobody else may enter before owner and mode are final.
                os.mkdir(name, 0o700, dir_fd=dfd)
            except OSError as exc:
                raise HostError(f"cannot create directory {path}: {exc.strerror}",
                                path=path, host=self.name) from None
            self._fix_in(dfd, name, path, uid, gid, mode)
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def _fix_in(self, dfd: int, name: str, path: str, uid: int, gid: int, mode: int) -> None:
        try:
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                os.fchmod(fd, mode & 0o7777)
            finally:
                os.close(fd)
        except OSError as exc:
            raise HostError(f"cannot set owner/mode of {path}: {exc.strerror}", path=path,
                            host=self.name) from None

    def set_owner_mode(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        path = normalize(path)
        parent, name = posixpath.split(path)
        self._check_ids(path, uid, gid)
        dfd = self._open_dir(parent)
        try:
            st = os.lstat(name, dir_fd=dfd)
            if stat_mod.S_ISLNK(st.st_mode):
                raise HostError(f"{path} is a symbolic link; certmgr does not change links",
                                path=path, host=self.name)
            self._fix_in(dfd, name, path, uid, gid, mode)
        except FileNotFoundError:
            raise HostError(f"{path} does not exist", path=path, host=self.name) from None
        finally:
            os.close(dfd)

    def _open_parent(self, parent: str) -> int | None:
        """The parent directory's fd for a removal, or None if it is already gone."""
        try:
            return self._open_dir(parent)
        except HostError:
            if self.stat(parent, follow_symlinks=False) is None:
                return None
            raise

    def remove_file(self, path: str) -> None:
        path = normalize(path)
        parent, name = posixpath.split(path)
        dfd = self._open_parent(parent)
        if dfd is None:
            return  # the directory is gone, so is the file
        try:
            os.unlink(name, dir_fd=dfd)
            os.fsync(dfd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HostError(f"cannot remove {path}: {exc.strerror}", path=path,
                            host=self.name) from None
        finally:
            os.close(dfd)

    def remove_dir(self, path: str) -> None:
        path = normalize(path)
        parent, name = posixpath.split(path)
        dfd = self._open_parent(parent)
        if dfd is None:
            return
        try:
            os.rmdir(name, dir_fd=dfd)
            os.fsync(dfd)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HostError(f"cannot remove directory {path}: {exc.strerror}", path=path,
                            host=self.name) from None
        finally:
            os.close(dfd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)
