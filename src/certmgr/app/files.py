"""Files the use cases write on this machine (exports, saved chains): atomic, never broader
than their final mode."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from certmgr.errors import InputError

__all__ = ["write_file"]


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
