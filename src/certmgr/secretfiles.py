"""Files that hold a secret (SMTP password, webhook token or URL, keystore password).

One rule for all of them, checked where each is read: the file must be a regular
file that neither group nor others may read or write (mode 0600 or 0400, like an
SSH private key). Anything broader is refused with one line that says how to
fix it: a password in a world-readable file is not a secret any more, and
refusing (not warning) keeps a careless file from working quietly for months.
What is read is remembered by :mod:`certmgr.redact`, so it is never printed.

This module imports nothing from certmgr but errors and redact (the bottom layer).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from certmgr import redact
from certmgr.errors import InputError

__all__ = ["MAX_SECRET_FILE", "read_secret_file"]

MAX_SECRET_FILE = 64 * 1024


def read_secret_file(path: str | os.PathLike[str], *, what: str = "secret") -> str:
    """The text of a secret file (UTF-8), checked as the module says and remembered.

    Raises:
        InputError: missing, unreadable, not a regular file, too large, readable or
            writable by group or others, or not UTF-8.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} file: {exc.strerror}",
                         path=path) from None
    except ValueError:  # a NUL in the name: no file can have it
        raise InputError(f"{str(path)!r}: not a file name (it holds a NUL byte)") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{path}: the {what} file is not a regular file", path=path)
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise InputError(f"{path}: mode {mode:04o} lets group or others at this {what}; "
                             f"run chmod 600 {path}", path=path)
        if st.st_size > MAX_SECRET_FILE:
            raise InputError(f"{path}: {st.st_size} bytes is too large for a {what} file "
                             f"(at most {MAX_SECRET_FILE})", path=path)
        data = os.read(fd, MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} file: {exc.strerror}",
                         path=path) from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the {what} file is not UTF-8 text", path=path) from None
    redact.remember(text.strip(), *(line.strip() for line in text.splitlines()))
    return text
