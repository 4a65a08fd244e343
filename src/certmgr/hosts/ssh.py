"""A host reached over SSH: SFTP for files, exec for commands (asyncssh).

``SSHHost("ssh://root@198.18.0.2:22", key="~/.ssh/id_ed25519",
known_hosts="~/.ssh/known_hosts")`` connects on first use. Host key verification
is always on: the server's key must be in ``known_hosts`` (default: the user's
``~/.ssh/known_hosts``). The synchronous Host API runs asyncssh on a private
event loop thread, so one SSHHost may be used from several worker threads.

The remote side needs only sshd with its SFTP subsystem (``fsync@openssh.com``
and ``posix-rename@openssh.com``, both OpenSSH defaults); directories are
fsynced through SFTP too, or with coreutils' ``sync DIR`` where the SFTP server
cannot open a directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import posixpath
import shlex
import threading
from collections.abc import Callable, Coroutine
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from certmgr.errors import CommandFailed, HostError
from certmgr.hosts import sshio
from certmgr.hosts.base import (
    Accounts,
    CommandResult,
    FileStat,
    _no_checkpoint,
    check_temp_name,
    normalize,
    prefixes,
)
from certmgr.hosts.sshaddress import SSHAddress, check_login_files, parse_ssh_url

__all__ = ["SSHAddress", "SSHHost", "check_login_files", "parse_ssh_url"]

T = TypeVar("T")

_CONNECT_TIMEOUT = 20.0
_FILE_TIMEOUT = 120.0


# AES-GCM first: asyncssh does it in one cryptography AEAD call per packet, where its
# chacha20-poly1305 builds two cipher objects per packet (a third of a deploy's client
# CPU). Both are OpenSSH defaults; the rest stay as fallbacks.
_ENCRYPTION_ALGS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
                    "chacha20-poly1305@openssh.com", "aes256-ctr", "aes192-ctr", "aes128-ctr"]


class SSHHost:
    """A remote machine; paths are the remote machine's own."""

    can_run = True

    def __init__(self, url: str, *, key: str | Path | None = None,
                 known_hosts: str | Path | None = None, name: str | None = None) -> None:
        self.ssh = parse_ssh_url(url)
        self.name = name or self.ssh.url
        self.address: str | None = self.ssh.host
        self.key = Path(key).expanduser() if key is not None else None
        self.known_hosts = (Path(known_hosts).expanduser() if known_hosts is not None
                            else Path("~/.ssh/known_hosts").expanduser())
        self._loop: sshio.Loop | None = None
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._lock = threading.Lock()
        # Whether the server's REALPATH resolves symlinks (OpenSSH's does): then one
        # REALPATH proves a directory path link-free, instead of an lstat per component.
        self._realpath_resolves = False

    def __repr__(self) -> str:
        return f"SSHHost({self.ssh.url!r})"

    def __enter__(self) -> SSHHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection --------------------------------------------------------------

    def _call(self, make: Callable[[asyncssh.SFTPClient, asyncssh.SSHClientConnection],
                                   Coroutine[Any, Any, T]],
              timeout: float = _FILE_TIMEOUT) -> T:
        with self._lock:
            if self._loop is None:
                self._loop = sshio.shared_loop()
            loop = self._loop
            if self._sftp is None:
                self._conn, self._sftp = self._within(loop, self._connect(),
                                                      _CONNECT_TIMEOUT + 5)
            sftp, conn = self._sftp, self._conn
        assert conn is not None
        return self._within(loop, make(sftp, conn), timeout)

    def _within(self, loop: sshio.Loop, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` on the loop with a total deadline (HostError when it passes)."""
        try:
            return loop.call(coro, timeout)
        except TimeoutError:
            raise HostError(f"{self.name} did not answer within {timeout:g}s; check that "
                            "the host and its sshd are up and reachable",
                            host=self.name) from None

    async def _connect(self) -> tuple[asyncssh.SSHClientConnection, asyncssh.SFTPClient]:
        if not self.known_hosts.is_file():
            raise HostError(f"known_hosts file {self.known_hosts} does not exist: add the "
                            f"server's key (ssh-keyscan -p {self.ssh.port} {self.ssh.host}) "
                            "after checking its fingerprint", host=self.name)
        options: dict[str, Any] = {"known_hosts": str(self.known_hosts), "config": None,
                                   "encryption_algs": _ENCRYPTION_ALGS}
        if self.key is not None:
            options["client_keys"] = [str(self.key)]
        try:
            conn = await asyncio.wait_for(asyncssh.connect(
                self.ssh.host, self.ssh.port, username=self.ssh.user, **options),
                _CONNECT_TIMEOUT)
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostError(f"{self.name}: host key not trusted ({exc.reason}); check the "
                            f"server's key and add it to {self.known_hosts}",
                            host=self.name) from None
        except asyncssh.PermissionDenied:
            raise HostError(f"{self.name}: authentication refused; give a key the server "
                            "accepts with --key", host=self.name) from None
        except TimeoutError:
            raise HostError(f"cannot connect to {self.name}: no SSH answer within "
                            f"{_CONNECT_TIMEOUT:g}s (is sshd listening on port {self.ssh.port} "
                            "and is the host reachable?)", host=self.name) from None
        except (OSError, asyncssh.Error) as exc:
            raise HostError(f"cannot connect to {self.name}: {_reason(exc)}",
                            host=self.name) from None
        try:
            sftp = await conn.start_sftp_client()
        except asyncssh.Error as exc:
            conn.close()
            raise HostError(f"{self.name}: the SFTP subsystem is not available ({exc}); "
                            "enable 'Subsystem sftp' in sshd_config", host=self.name) from None
        resolved = await sshio.realpath(sftp, "/proc/self")
        self._realpath_resolves = resolved not in (None, "/proc/self")
        return conn, sftp

    def close(self) -> None:
        """Close the connection (the shared event loop thread stays for other hosts)."""
        with self._lock:
            if self._loop is None:
                return
            conn, self._conn, self._sftp = self._conn, None, None
            if conn is not None:
                async def shut() -> None:
                    conn.close()
                    await conn.wait_closed()

                # If the peer is gone already there is nothing left to close politely.
                with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
                    self._loop.call(shut(), 10)
            self._loop = None

    def _sftp_error(self, path: str, exc: Exception, doing: str) -> HostError:
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            return HostError(f"{path} does not exist on {self.name}", path=path, host=self.name)
        if isinstance(exc, asyncssh.SFTPPermissionDenied):
            return HostError(f"cannot {doing} {path} on {self.name}: permission denied",
                             path=path, host=self.name)
        reason = getattr(exc, "reason", "") or str(exc)
        return HostError(f"cannot {doing} {path} on {self.name}: {reason}", path=path,
                         host=self.name)

    # -- reading -------------------------------------------------------------------

    def read_bytes(self, path: str, *, limit: int | None = None) -> bytes:
        path = normalize(path)

        async def read(sftp: asyncssh.SFTPClient, _c: Any) -> bytes:
            try:
                async with sftp.open(path, "rb") as fh:
                    data = await fh.read(-1 if limit is None else limit)
            except (asyncssh.SFTPError, OSError) as exc:
                raise self._sftp_error(path, exc, "read") from None
            assert isinstance(data, bytes)
            return data

        return self._call(read)

    def read_link_free(self, path: str) -> tuple[bytes, FileStat] | None:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient,
                     _c: Any) -> tuple[bytes, asyncssh.SFTPAttrs] | None:
            try:
                return await sshio.read_link_free(sftp, path, self._realpath_resolves)
            except sshio.Refused as exc:
                raise HostError(f"{exc.why} (on {self.name})", path=path,
                                host=self.name) from None
            except (asyncssh.SFTPError, OSError) as exc:
                raise self._sftp_error(path, exc, "read") from None

        found = self._call(do)
        if found is None:
            return None
        st = self._file_stat(path, found[1])
        assert st is not None
        return found[0], st

    def stat(self, path: str, *, follow_symlinks: bool = True) -> FileStat | None:
        return self.stat_many([path], follow_symlinks=follow_symlinks)[0]

    def stat_many(self, paths: list[str], *,
                  follow_symlinks: bool = True) -> list[FileStat | None]:
        """Several stat calls in one round trip: the SFTP requests go out together."""
        paths = [normalize(p) for p in paths]

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> list[asyncssh.SFTPAttrs | None]:
            return await sshio.stat_all(sftp, paths, follow_symlinks)

        found = self._call(do)
        return [self._file_stat(p, attrs) for p, attrs in zip(paths, found, strict=True)]

    def _file_stat(self, path: str, attrs: asyncssh.SFTPAttrs | None) -> FileStat | None:
        if attrs is None or attrs.permissions is None:
            return None
        return FileStat.from_st_mode(path, attrs.permissions, attrs.uid or 0, attrs.gid or 0,
                                     attrs.size or 0, float(attrs.mtime or 0), self._users,
                                     self._groups)

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def listdir(self, path: str) -> list[str]:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> list[str]:
            try:
                names = await sftp.listdir(path)
            except (asyncssh.SFTPError, OSError) as exc:
                raise self._sftp_error(path, exc, "list") from None
            return sorted(str(n) for n in names if n not in (".", ".."))

        return self._call(do)

    def glob(self, pattern: str) -> list[str]:
        found = ["/"]
        for part in [p for p in normalize(pattern).split("/") if p]:
            nxt: list[str] = []
            for base in found:
                if any(ch in part for ch in "*?["):
                    try:
                        names = self.listdir(base)
                    except HostError:
                        continue
                    nxt.extend(posixpath.join(base, n) for n in names
                               if fnmatch.fnmatchcase(n, part) and not n.startswith("."))
                elif self.stat(posixpath.join(base, part), follow_symlinks=False) is not None:
                    nxt.append(posixpath.join(base, part))
            found = nxt
        return sorted(found)

    def realpath(self, path: str) -> str:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> str:
            try:
                return str(await sftp.realpath(path))
            except (asyncssh.SFTPError, OSError) as exc:
                raise self._sftp_error(path, exc, "resolve") from None

        return self._call(do)

    @cached_property
    def accounts(self) -> Accounts:
        """Users and groups of the remote host, read once over SFTP."""
        return Accounts.parse(self.read_bytes("/etc/passwd").decode(errors="replace"),
                              self.read_bytes("/etc/group").decode(errors="replace"))

    # Built once per host: every stat resolves owner and group names through them.
    @cached_property
    def _users(self) -> dict[int, str]:
        return self.accounts.users()

    @cached_property
    def _groups(self) -> dict[int, str]:
        return self.accounts.groups()

    def users(self) -> dict[int, str]:
        return dict(self._users)

    def groups(self) -> dict[int, str]:
        return dict(self._groups)

    def group_members(self, group: str) -> set[str]:
        return self.accounts.members(group)

    # -- commands --------------------------------------------------------------------

    def run(self, argv: list[str], *, input: bytes | None = None, timeout: float = 60.0,
            check: bool = True) -> CommandResult:
        command = shlex.join(argv)

        async def do(_s: Any, conn: asyncssh.SSHClientConnection) -> CommandResult:
            try:
                proc = await conn.run(command, input=input, encoding=None, check=False,
                                      timeout=timeout)
            except asyncssh.TimeoutError:
                raise HostError(f"{command} did not finish within {timeout:g}s on "
                                f"{self.name}", host=self.name) from None
            except (asyncssh.Error, OSError) as exc:
                raise HostError(f"cannot run {argv[0]} on {self.name}: {exc}",
                                host=self.name) from None
            out, err = proc.stdout or b"", proc.stderr or b""
            code = proc.exit_status if proc.exit_status is not None else 255
            return CommandResult(tuple(argv), code,
                                 out.decode(errors="replace") if isinstance(out, bytes)
                                 else str(out),
                                 err.decode(errors="replace") if isinstance(err, bytes)
                                 else str(err))

        result = self._call(do, timeout + 10)
        if check and not result.ok:
            last = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
            raise CommandFailed(f"{argv[0]} exited {result.returncode} on {self.name}: "
                                f"{last[0]}", command=list(argv), returncode=result.returncode,
                                stderr=result.stderr, host=self.name)
        return result

    def which(self, program: str) -> str | None:
        result = self.run(["sh", "-c", 'PATH="$PATH:/usr/sbin:/sbin" command -v "$1"', "sh",
                           program], check=False)
        found = result.stdout.strip()
        return found if result.ok and found.startswith("/") else None

    # -- writing (only certmgr.deploy.fsops calls these) --------------------------------

    def _link_error(self, path: str, link: str) -> HostError:
        return HostError(f"{path}: {link} is a symbolic link; certmgr does not write through "
                         "links", path=path, host=self.name)

    async def _refuse_links(self, sftp: asyncssh.SFTPClient, path: str) -> None:
        """Refuse ``path`` if any component is a symlink, checked in the caller's round trip.

        Every write method runs this in the same coroutine as its first change, right
        before it, so the check is as close to the change as SFTP allows. Where the
        server resolves links in REALPATH, a path that is its own real path has none
        (one request, resolved by the server in one go); anything else is walked.
        """
        if self._realpath_resolves and await sshio.realpath(sftp, path) == path:
            return
        link = await sshio.first_link(sftp, path)
        if link is not None:
            raise self._link_error(path, link)

    def lstat_link_free(self, path: str) -> tuple[bool, FileStat | None]:
        """Whether ``path``'s parent is an existing directory, and ``path``'s lstat, symlinks
        refused, in one round trip (two for a missing file)."""
        path = normalize(path)
        parent = posixpath.dirname(path)

        async def do(sftp: asyncssh.SFTPClient,
                     _c: Any) -> tuple[bool, asyncssh.SFTPAttrs | None]:
            if self._realpath_resolves:
                real, attrs = await asyncio.gather(sshio.realpath(sftp, parent),
                                                   sshio.lstat(sftp, path))
                if real == parent and attrs is not None:
                    # Something exists in it, so the parent is a directory.
                    if attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:
                        raise self._link_error(path, path)
                    return True, attrs
                if real == parent:
                    up = await sshio.lstat(sftp, parent)
                    return up is not None and up.type == asyncssh.FILEXFER_TYPE_DIRECTORY, None
            walk = prefixes(path)
            chain: list[asyncssh.SFTPAttrs] = []
            found_all = await sshio.stat_all(sftp, walk, False)
            for current, found in zip(walk, found_all, strict=True):
                if found is None:
                    break
                if found.type == asyncssh.FILEXFER_TYPE_SYMLINK:
                    raise self._link_error(path, current)
                chain.append(found)
            depth = len(walk)
            parent_ok = depth <= 1 or (len(chain) >= depth - 1 and chain[depth - 2].type
                                       == asyncssh.FILEXFER_TYPE_DIRECTORY)
            return parent_ok, (chain[-1] if depth and len(chain) == depth else None)

        parent_ok, attrs = self._call(do)
        return parent_ok, self._file_stat(path, attrs)

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
        directory = posixpath.dirname(path)
        check_temp_name(temp_name)
        temp = posixpath.join(directory, temp_name)
        half = len(data) // 2
        flags = asyncssh.FXF_WRITE | asyncssh.FXF_CREAT | asyncssh.FXF_EXCL

        async def create(sftp: asyncssh.SFTPClient, _c: Any) -> asyncssh.SFTPClientFile:
            await self._refuse_links(sftp, directory)
            fh = await sftp.open(temp, flags, asyncssh.SFTPAttrs(permissions=mode & 0o7777),
                                 encoding=None)
            try:
                await sshio.set_owner_mode(fh, uid, gid, mode)
                await fh.write(data[:half])
            except BaseException:
                await sshio.drop(sftp, fh, temp)
                raise
            return fh

        async def finish(_s: Any, _c: Any, fh: asyncssh.SFTPClientFile) -> None:
            await fh.write(data[half:])

        async def sync_close(_s: Any, _c: Any, fh: asyncssh.SFTPClientFile) -> None:
            try:
                await fh.fsync()
            finally:
                await fh.close()

        async def rename(sftp: asyncssh.SFTPClient, _c: Any) -> None:
            await sftp.posix_rename(temp, path)

        try:
            fh = self._call(create)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._sftp_error(temp, exc, "create") from None
        try:
            checkpoint("temp-write")
            self._call(lambda s, c: finish(s, c, fh))
            checkpoint("fsync")
            self._call(lambda s, c: sync_close(s, c, fh))
            checkpoint("rename")
            self._call(rename)
        except BaseException as exc:
            self._abandon(temp, fh)
            if isinstance(exc, (asyncssh.SFTPError, OSError)):
                raise self._sftp_error(path, exc, "write") from None
            raise
        checkpoint("dir-fsync")
        self._fsync_dir(directory)

    def _fsync_dir(self, directory: str) -> None:
        """Make a directory entry durable.

        OpenSSH's sftp-server opens a directory read-only like a file, and its
        ``fsync@openssh.com`` then fsyncs it: no command, no new session. Servers
        that refuse get coreutils' ``sync DIR`` (which fsyncs that directory).
        """
        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> bool:
            try:
                fh = await sftp.open(directory, "rb")
            except (asyncssh.SFTPError, OSError):
                return False
            try:
                await fh.fsync()
            except (asyncssh.SFTPError, OSError):
                return False
            finally:
                await fh.close()
            return True

        if not self._call(do, 60):
            self.run(["sync", "--", directory], timeout=60)

    def _abandon(self, temp: str, fh: asyncssh.SFTPClientFile) -> None:
        # If the connection is gone, the journal names the temp file for recovery.
        with contextlib.suppress(HostError, OSError, asyncssh.Error, TimeoutError):
            self._call(lambda sftp, _c: sshio.drop(sftp, fh, temp), 30)

    def make_dir(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> None:
            await self._refuse_links(sftp, posixpath.dirname(path))
            # 0o700 first: nobody else may enter before owner and mode are final.
            await sftp.mkdir(path, asyncssh.SFTPAttrs(permissions=0o700))
            await sftp.chown(path, uid, gid)
            await sftp.chmod(path, mode & 0o7777)

        try:
            self._call(do)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._sftp_error(path, exc, "create directory") from None

    def set_owner_mode(self, path: str, *, uid: int, gid: int, mode: int) -> None:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> None:
            await self._refuse_links(sftp, path)
            await sftp.chown(path, uid, gid)
            await sftp.chmod(path, mode & 0o7777)

        try:
            self._call(do)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._sftp_error(path, exc, "set owner/mode of") from None

    def _remove(self, path: str, kind: str) -> None:
        path = normalize(path)

        async def do(sftp: asyncssh.SFTPClient, _c: Any) -> None:
            await self._refuse_links(sftp, posixpath.dirname(path))
            with contextlib.suppress(asyncssh.SFTPNoSuchFile):
                await (sftp.rmdir(path) if kind == "dir" else sftp.remove(path))

        try:
            self._call(do)
        except (asyncssh.SFTPError, OSError) as exc:
            raise self._sftp_error(path, exc, "remove") from None

    def remove_file(self, path: str) -> None:
        self._remove(path, "file")

    def remove_dir(self, path: str) -> None:
        self._remove(path, "dir")


def _reason(exc: BaseException) -> str:
    """Why a connection failed, never empty (some exceptions have no message)."""
    text = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(text) or type(exc).__name__
