"""The monitor's small memory between passes: ``<home>/monitor-state.json``.

It holds what the repository does not: which problems were already notified
(and to which channel, when), and each definition's renewal attempts and
back-off. It never holds key material or secrets. Writes are atomic (temp file
created 0600 in the same directory, fsync, rename, directory fsync) and a ``flock`` on a lock
file keeps a ``monitor --once`` from racing a running ``monitor --watch``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from certmgr import atomicfile
from certmgr.errors import RepositoryError

__all__ = ["STATE_NAME", "StateFile"]

STATE_NAME = "monitor-state.json"
_FORMAT = 1


class StateFile:
    """A JSON document of named sections, read and written under an exclusive lock.

    Use :meth:`transaction`: it yields the whole document (a dict of sections)
    and writes it back when the block ends without an exception.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")

    @classmethod
    def in_home(cls, home: Path) -> StateFile:
        return cls(home / STATE_NAME)

    def read(self) -> dict[str, Any]:
        """The current document (empty when there is none yet), without locking."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise RepositoryError(f"{self.path}: cannot read the monitor state: {exc.strerror}",
                                  path=self.path) from None
        try:
            data = json.loads(text)
        except ValueError:
            # A damaged state only costs repeated notices; the monitor must keep running.
            return {}
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            return {}
        sections = data.get("sections", {})
        return sections if isinstance(sections, dict) else {}

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict[str, Any]]:
        """Lock, yield the document, and write it back if the block succeeds."""
        self._ensure_dir()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            doc = self.read()
            yield doc
            self._write(doc)
        finally:
            os.close(fd)  # closing releases the flock

    def _ensure_dir(self) -> None:
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise RepositoryError(f"{self.path.parent}: cannot create the home: {exc.strerror}",
                                  path=self.path.parent) from None

    def _write(self, sections: dict[str, Any]) -> None:
        data = json.dumps({"format": _FORMAT, "sections": sections}, indent=1, sort_keys=True)
        # 0600 from creation, fsync, rename, directory fsync (certmgr.atomicfile).
        try:
            atomicfile.write_atomic(self.path, data.encode("utf-8"), mode=0o600)
        except OSError as exc:
            raise RepositoryError(f"{self.path}: cannot write the monitor state: {exc.strerror}",
                                  path=self.path) from None
