"""Helpers the PKI commands share: safe file writing, durations as options, passwords."""

from __future__ import annotations

from pathlib import Path

from certmgr.app.files import write_file
from certmgr.errors import InputError

__all__ = ["read_input", "read_password", "write_file"]


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
