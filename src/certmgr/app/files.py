"""Files the use cases write on this machine (exports, saved chains): atomic, never broader
than their final mode."""

from __future__ import annotations

from pathlib import Path

from certmgr import atomicfile
from certmgr.errors import InputError

__all__ = ["write_file"]


def write_file(path: Path, data: bytes, *, secret: bool) -> None:
    """Write ``data`` to ``path`` atomically and durably; 0600 for secrets, 0644 otherwise.

    The file has its final mode from creation (:mod:`certmgr.atomicfile`), so a
    key is never readable by others, not even for an instant, and a reader never
    sees half a file.

    Raises:
        InputError: the directory does not exist or cannot be written.
    """
    try:
        atomicfile.write_atomic(path, data, mode=0o600 if secret else 0o644)
    except atomicfile.TempFileError as exc:
        raise InputError(f"{path}: cannot write there: {exc.strerror}", path=path) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror}", path=path) from None
