"""Helpers the PKI commands share: safe file writing, durations as options, passwords."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from certmgr.errors import InputError

__all__ = ["read_input", "read_password", "write_file"]


def write_file(path: Path, data: bytes, *, secret: bool) -> None:
    """Write ``data`` to ``path`` atomically; 0600 for secrets (from creation), 0644 otherwise.

    The temporary file is made by ``mkstemp`` (mode 0600), so a key is never
    readable by others, not even for an instant, and a reader never sees half a file.

    Raises:
        InputError: the directory does not exist or cannot be written.
    """
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write there: {exc.strerror}", path=path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if not secret:
                os.fchmod(handle.fileno(), 0o644)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"{path}: cannot write: {exc.strerror}", path=path) from None


def read_input(path: Path) -> bytes:
    """The bytes of a file the user named (``-`` is stdin).

    Raises:
        InputError: the file cannot be read.
    """
    if str(path) == "-":
        import sys

        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}", path=path) from None


def read_password(password: str | None, password_file: Path | None) -> str | None:
    """``--password`` or the first line of ``--password-file`` (not both)."""
    if password is not None and password_file is not None:
        raise InputError("give --password or --password-file, not both")
    if password_file is None:
        return password
    lines = read_input(password_file).decode("utf-8", "replace").splitlines()
    return lines[0] if lines else ""
