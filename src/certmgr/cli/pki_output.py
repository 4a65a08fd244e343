"""Helpers the PKI commands share: safe file writing, durations as options, passwords."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from certmgr import redact
from certmgr.app.files import write_file
from certmgr.errors import InputError
from certmgr.inputs import read_user_file
from certmgr.secretfiles import read_secret_file

__all__ = ["PASSWORD_ENV", "read_input", "read_password", "write_file"]


def read_input(path: Path, *, secret: bool = False) -> bytes:
    """The bytes of a file the user named (``-`` is stdin), never blocking on a FIFO.

    Raises:
        InputError: the file cannot be read, is not a regular file or is too large.
    """
    return read_user_file(path, secret=secret, stdin=True)


PASSWORD_ENV = "CERTMGR_PASSWORD"  # noqa: S105 - the name of a variable, not a password


def read_password(password: str | None, password_file: Path | None) -> str | None:
    """``--password-file`` (first line; ``-``: stdin), ``--password``, or ``CERTMGR_PASSWORD``.

    A password file must be 0600 (see :mod:`certmgr.secretfiles`). ``--password`` still
    works but warns: every user of the machine can read it in ``ps``.
    """
    if password is not None and password_file is not None:
        raise InputError("give --password or --password-file, not both")
    if password is not None:
        typer.echo("certmgr: warning: --password is visible to every user in ps; use "
                   f"--password-file FILE (mode 0600), --password-file - (stdin) or "
                   f"{PASSWORD_ENV}", err=True)
        redact.remember(password)
        return password
    if password_file is None:
        from_env = os.environ.get(PASSWORD_ENV)
        redact.remember(from_env)
        return from_env
    if str(password_file) == "-":
        text = read_input(password_file).decode("utf-8", "replace")
    else:
        text = read_secret_file(password_file, what="password")
    lines = text.splitlines()
    redact.remember(lines[0] if lines else None)
    return lines[0] if lines else ""
