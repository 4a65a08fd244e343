"""One local atomic write: readers see the old file or the new one, whole, and it is durable.

Every file certmgr writes on this machine goes through :func:`write_in`, the
one implementation, directly (:func:`write_atomic`, given a path) or through
``LocalHost.write_file_atomic`` (which walks its own directory with
``O_NOFOLLOW`` first). The steps, in order:

1. create the temp file beside the target, exclusively (``O_EXCL``, no
   symlink followed), with the final mode or narrower (the umask can only
   narrow it): never broader, not even for an instant;
2. set its owner and group (when given) and then exactly the final mode,
   before any data is in it;
3. write the data, fsync the file;
4. rename it over the target (or, with ``replace=False``, link it to the
   target's name, which fails if that name exists);
5. fsync the directory, so the new entry survives a crash.

A failure before the publishing step removes the temp file and leaves the old
file as it was. ``checkpoint`` is called with ``"temp-write"`` (part of the
data written), ``"fsync"``, ``"rename"`` and ``"dir-fsync"`` before those
steps, for crash-consistency tests.

Errors are the operating system's (:class:`OSError`; :class:`TempFileError`
when the temp file cannot even be created): each caller says in its own words
which of its files could not be written. Layer: bottom; imports no certmgr
module.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterable

__all__ = ["Checkpoint", "TempFileError", "no_checkpoint", "temp_name_for", "write_atomic",
           "write_in"]

Checkpoint = Callable[[str], None]

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class TempFileError(OSError):
    """The temp file could not be created beside the target (nothing was changed)."""


def no_checkpoint(name: str) -> None:
    """The default checkpoint callback: does nothing."""


def temp_name_for(name: str) -> str:
    """A fresh hidden temp name beside ``name``: ``.NAME.RANDOM.tmp``."""
    return f".{name}.{secrets.token_hex(4)}.tmp"


def write_atomic(
    path: str | os.PathLike[str],
    data: bytes | Iterable[bytes],
    *,
    mode: int,
    uid: int | None = None,
    gid: int | None = None,
    replace: bool = True,
    checkpoint: Checkpoint = no_checkpoint,
) -> None:
    """Write ``data`` to ``path`` atomically and durably (see the module's steps).

    Args:
        path: the target; its directory must exist (symlinks in the directory part
            are followed, the target name itself never is).
        data: the content, or chunks of it (streamed: a large backup is never held whole).
        mode: the final permission bits; the file is never more open than this.
        uid, gid: the owner to give the file before any data is written (None: keep).
        replace: False to refuse an existing target (:class:`FileExistsError`).
        checkpoint: called before each step, for crash-consistency tests.

    Raises:
        TempFileError: the temp file cannot be created (the directory is missing or
            not writable); nothing changed.
        OSError: a later step failed; the old file is as it was unless the failure
            was the final directory fsync.
    """
    directory, name = os.path.split(os.fspath(path))
    try:
        dfd = os.open(directory or ".", _DIRECTORY)
    except OSError as exc:
        raise TempFileError(exc.errno, exc.strerror, directory or ".") from None
    try:
        write_in(dfd, name, data, mode=mode, uid=uid, gid=gid, temp_name=temp_name_for(name),
                 replace=replace, checkpoint=checkpoint)
    finally:
        os.close(dfd)


def write_in(
    dir_fd: int,
    name: str,
    data: bytes | Iterable[bytes],
    *,
    mode: int,
    temp_name: str,
    uid: int | None = None,
    gid: int | None = None,
    replace: bool = True,
    checkpoint: Checkpoint = no_checkpoint,
) -> None:
    """:func:`write_atomic` in an open directory: ``name`` and ``temp_name`` are bare names.

    For callers that opened (and checked) the directory themselves.

    Raises:
        TempFileError, OSError: as :func:`write_atomic`.
    """
    mode &= 0o7777
    try:
        fd = os.open(temp_name, _CREATE, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise TempFileError(exc.errno, exc.strerror, temp_name) from None
    try:
        try:
            if uid is not None or gid is not None:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            # After fchown (which may clear set-id bits), and before any data.
            os.fchmod(fd, mode)
            _write_data(fd, data, checkpoint)
            checkpoint("fsync")
            os.fsync(fd)
        finally:
            os.close(fd)
        checkpoint("rename")
        _publish(dir_fd, temp_name, name, replace)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name, dir_fd=dir_fd)
        raise
    checkpoint("dir-fsync")
    os.fsync(dir_fd)


def _write_data(fd: int, data: bytes | Iterable[bytes], checkpoint: Checkpoint) -> None:
    """Write everything, calling ``checkpoint("temp-write")`` once part of it is written."""
    if isinstance(data, bytes | bytearray | memoryview):
        view = memoryview(data)
        half = len(view) // 2
        _write_all(fd, view[:half])
        checkpoint("temp-write")
        _write_all(fd, view[half:])
        return
    announced = False
    for chunk in data:
        _write_all(fd, memoryview(chunk))
        if not announced:
            checkpoint("temp-write")
            announced = True
    if not announced:
        checkpoint("temp-write")


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view):]


def _publish(dir_fd: int, temp_name: str, name: str, replace: bool) -> None:
    if replace:
        os.rename(temp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return
    # link() refuses an existing name (a symlink included): first writer wins.
    os.link(temp_name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    os.unlink(temp_name, dir_fd=dir_fd)
