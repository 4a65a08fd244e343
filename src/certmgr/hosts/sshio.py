"""The asyncio side of :class:`certmgr.hosts.ssh.SSHHost`.

The event loop thread every SSH host of the process shares, and the SFTP steps its
methods put together (stat and link checks with pipelined requests, a temp file's
owner and mode, dropping an abandoned temp file).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncssh

from certmgr.hosts.base import prefixes

__all__ = ["Loop", "Refused", "drop", "first_link", "lstat", "read_link_free", "realpath",
           "set_owner_mode", "shared_loop", "stat_all"]

T = TypeVar("T")


class Loop:
    """An asyncio event loop on a daemon thread, for calling async code synchronously.

    One loop serves every SSHHost of the process (:func:`shared_loop`): a deployment
    to many hosts then wakes one thread for all their packets, where a loop per host
    had as many threads contending for the GIL. uvloop runs it where installed.
    """

    def __init__(self) -> None:
        self.loop = new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="certmgr-ssh",
                                       daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("an SSH host was called from its own event loop thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()  # the deadline is total: nothing keeps running on the loop
            raise


def new_event_loop() -> asyncio.AbstractEventLoop:
    with contextlib.suppress(ImportError):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


_shared: Loop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> Loop:
    """The process's SSH event loop, started on first use (again in a forked child)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.thread.is_alive():
            _shared = Loop()
        return _shared


async def realpath(sftp: asyncssh.SFTPClient, path: str) -> str | None:
    """The server's REALPATH of ``path``, or None where it has none (missing)."""
    try:
        return str(await sftp.realpath(path))
    except asyncssh.SFTPError:
        return None


async def lstat(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPAttrs | None:
    try:
        return await sftp.lstat(path)
    except asyncssh.SFTPError:
        return None


async def stat_all(sftp: asyncssh.SFTPClient, paths: list[str],
                    follow_symlinks: bool) -> list[asyncssh.SFTPAttrs | None]:
    """(l)stat every path with the requests pipelined; None where one fails (missing)."""
    async def one(path: str) -> asyncssh.SFTPAttrs | None:
        if not follow_symlinks:
            return await lstat(sftp, path)
        try:
            return await sftp.stat(path)
        except asyncssh.SFTPError:
            return None

    if len(paths) == 1:
        return [await one(paths[0])]
    return list(await asyncio.gather(*(one(p) for p in paths)))


async def first_link(sftp: asyncssh.SFTPClient, path: str) -> str | None:
    """The first component of ``path`` that is a symlink, or None.

    SFTP has no O_NOFOLLOW walk, so every prefix is lstat'ed (pipelined, one round
    trip) and judged from ``/`` down: a missing component ends the walk, as nothing
    below it can be followed.
    """
    walk = prefixes(path)
    for current, attrs in zip(walk, await stat_all(sftp, walk, False), strict=True):
        if attrs is None:
            return None
        if attrs.type == asyncssh.FILEXFER_TYPE_SYMLINK:
            return current
    return None


class Refused(Exception):
    """:func:`read_link_free` found a symlink, or something other than an unchanged regular file."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


async def _link_in(sftp: asyncssh.SFTPClient, path: str, resolves: bool) -> str | None:
    """The first symlink component of ``path`` (None: none), one REALPATH where it resolves."""
    if resolves and await realpath(sftp, path) == path:
        return None
    return await first_link(sftp, path)


async def _open(sftp: asyncssh.SFTPClient, path: str) -> asyncssh.SFTPClientFile | None:
    try:
        return await sftp.open(path, "rb", encoding=None)
    except asyncssh.SFTPNoSuchFile:
        return None


def _same(*found: asyncssh.SFTPAttrs | None) -> bool:
    keys = [None if a is None else (a.type, a.permissions, a.uid, a.gid, a.size, a.mtime)
            for a in found]
    return keys[0] is not None and all(k == keys[0] for k in keys)


async def read_link_free(sftp: asyncssh.SFTPClient, path: str,
                         resolves: bool) -> tuple[bytes, asyncssh.SFTPAttrs] | None:
    """A regular file's bytes and fstat, no symlink in ``path`` (None: it does not exist).

    SFTP opens follow links and has no O_NOFOLLOW, so the link check rides with the
    read: the REALPATH (or lstat walk) and lstat of the path go out right before the
    OPEN, and again with the FSTAT and READ of the open file. Only a path link-free before and
    after, whose lstat both times matches the open file's fstat (type, mode, owner,
    size, mtime), is read: a link swapped in and out around the OPEN would have to
    point at a file indistinguishable from the one it replaced.

    Raises:
        Refused: a component is a symlink, it is not a regular file, or it changed.
    """
    link, before = await asyncio.gather(_link_in(sftp, path, resolves), lstat(sftp, path))
    if link is not None:
        raise Refused(f"{link} is a symbolic link; certmgr does not read through links")
    if before is None:
        return None
    if before.type != asyncssh.FILEXFER_TYPE_REGULAR:
        # Checked before the OPEN: sftp-server's open() of a FIFO would block the session.
        raise Refused(f"{path} is not a regular file")
    fh = await _open(sftp, path)
    if fh is None:
        return None
    try:
        attrs, data, link, after = await asyncio.gather(
            fh.stat(), fh.read(), _link_in(sftp, path, resolves), lstat(sftp, path))
        if link is not None:
            raise Refused(f"{link} is a symbolic link; certmgr does not read through links")
        if not _same(before, attrs, after):
            raise Refused(f"{path} changed while it was read; try again")
        assert isinstance(data, bytes)
        return data, attrs
    finally:
        if fh is not None:
            with contextlib.suppress(asyncssh.SFTPError, OSError):
                await fh.close()


async def set_owner_mode(fh: asyncssh.SFTPClientFile, uid: int, gid: int, mode: int) -> None:
    """Give a new temp file its owner and exact mode.

    One SETSTAT when the mode has no set-id bits: in whichever order the server
    applies owner and mode, the mode is never broader than the final one (the file
    was created with it or narrower), and no data is written before both are set.
    A chown clears set-id bits, so a mode with them is set after the owner, in a
    second request.
    """
    if mode & 0o7000:
        await fh.chown(uid, gid)
        await fh.chmod(mode & 0o7777)
    else:
        await fh.setstat(asyncssh.SFTPAttrs(uid=uid, gid=gid, permissions=mode & 0o7777))


async def drop(sftp: asyncssh.SFTPClient, fh: asyncssh.SFTPClientFile, temp: str) -> None:
    """Close and remove an abandoned temp file, as far as the server still lets us."""
    with contextlib.suppress(asyncssh.SFTPError, OSError):
        await fh.close()  # may be closed already by sync_close
    with contextlib.suppress(asyncssh.SFTPError, OSError):
        await sftp.remove(temp)  # may be renamed already
