"""Which files and directories a test's writes fsynced: os.fsync, recorded, then really done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest


class FsyncSpy:
    """Records the (device, inode) of every fsync; the real fsync still runs."""

    def __init__(self) -> None:
        self.synced: list[tuple[int, int]] = []

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> FsyncSpy:
        spy = cls()
        real = os.fsync

        def fsync(fd: int) -> None:
            st = os.fstat(fd)
            spy.synced.append((st.st_dev, st.st_ino))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        return spy

    def synced_file_then_dir(self, path: Path) -> bool:
        """True if ``path``'s data was fsynced and then its directory (the new entry durable)."""
        st, parent = path.stat(), path.parent.stat()
        assert stat.S_ISDIR(parent.st_mode)
        file_key, dir_key = (st.st_dev, st.st_ino), (parent.st_dev, parent.st_ino)
        if file_key not in self.synced:
            return False
        first = self.synced.index(file_key)
        return dir_key in self.synced[first + 1:]

