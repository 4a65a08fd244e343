"""The one local atomic writer: final mode from creation, owner before data, durable, whole."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from certmgr import atomicfile
from tests.fsync_spy import FsyncSpy

STEPS = ["temp-write", "fsync", "rename", "dir-fsync"]


def _temps(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if p.name.endswith(".tmp")]


class _Watcher:
    """A checkpoint callback that records, at each step, the temp file's mode, owner and size."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: list[tuple[str, int, int, int, int]] = []

    def __call__(self, name: str) -> None:
        for temp in _temps(self.directory):
            st = temp.lstat()
            self.seen.append((name, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size))

    def names(self) -> list[str]:
        return [s[0] for s in self.seen]


@pytest.fixture
def fsync_spy(monkeypatch: pytest.MonkeyPatch) -> FsyncSpy:
    return FsyncSpy.install(monkeypatch)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_the_temp_file_is_never_broader_than_the_final_mode(
        tmp_path: Path, umask: Callable[[int], None], mode: int, mask: int) -> None:
    umask(mask)
    target = tmp_path / "site.key"
    target.write_bytes(b"old")
    watch = _Watcher(tmp_path)
    atomicfile.write_atomic(target, b"new key bytes", mode=mode, checkpoint=watch)
    # Until the rename the temp file exists; at each step it is at most ``mode``,
    # and exactly ``mode`` (whatever the umask) before the first byte is written.
    assert watch.names() == ["temp-write", "fsync", "rename"]
    for _step, seen_mode, *_ in watch.seen:
        assert seen_mode & ~mode == 0
        assert seen_mode == mode
    assert stat.S_IMODE(target.stat().st_mode) == mode
    assert target.read_bytes() == b"new key bytes"
    assert _temps(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_owner_and_group_are_set_before_any_data(tmp_path: Path) -> None:
    target = tmp_path / "site.key"
    watch = _Watcher(tmp_path)
    data = b"k" * 4096
    atomicfile.write_atomic(target, data, mode=0o640, uid=65534, gid=65534, checkpoint=watch)
    name, mode, uid, gid, size = watch.seen[0]
    assert (name, mode, uid, gid) == ("temp-write", 0o640, 65534, 65534)
    assert 0 < size < len(data)  # half the data written, already with its owner
    st = target.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o640)


def test_the_file_and_then_its_directory_are_fsynced(tmp_path: Path,
                                                     fsync_spy: FsyncSpy) -> None:
    target = tmp_path / "state.json"
    steps: list[str] = []
    atomicfile.write_atomic(target, b"{}", mode=0o600, checkpoint=steps.append)
    assert steps == STEPS
    assert fsync_spy.synced_file_then_dir(target)


def test_streamed_chunks_are_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "repo.backup"
    chunks = [b"header\n", b"a" * 100_000, b"b" * 3]
    steps: list[str] = []
    atomicfile.write_atomic(target, iter(chunks), mode=0o600, checkpoint=steps.append)
    assert target.read_bytes() == b"".join(chunks)
    assert steps == STEPS


def test_a_failure_before_the_rename_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "site.crt"
    target.write_bytes(b"old")
    target.chmod(0o644)

    def fail_at_rename(name: str) -> None:
        if name == "rename":
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        atomicfile.write_atomic(target, b"new", mode=0o644, checkpoint=fail_at_rename)
    assert target.read_bytes() == b"old"
    assert _temps(tmp_path) == []


def test_a_failing_data_source_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "repo.backup"
    target.write_bytes(b"old backup")

    def chunks() -> Iterator[bytes]:
        yield b"half of it"
        raise ValueError("the database went away")

    with pytest.raises(ValueError, match="went away"):
        atomicfile.write_atomic(target, chunks(), mode=0o600)
    assert target.read_bytes() == b"old backup"
    assert _temps(tmp_path) == []


def test_a_missing_directory_is_a_temp_file_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(atomicfile.TempFileError) as info:
        atomicfile.write_atomic(tmp_path / "nope" / "x.pem", b"x", mode=0o644)
    assert info.value.strerror
    assert list(tmp_path.iterdir()) == []


def test_a_symlink_at_the_target_is_replaced_never_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours")
    link = tmp_path / "out.pem"
    link.symlink_to(elsewhere)
    atomicfile.write_atomic(link, b"mine", mode=0o644)
    assert not link.is_symlink()
    assert link.read_bytes() == b"mine"
    assert elsewhere.read_bytes() == b"not yours"


def test_no_replace_refuses_an_existing_name_and_keeps_it(tmp_path: Path,
                                                         fsync_spy: FsyncSpy) -> None:
    target = tmp_path / "master.key"
    atomicfile.write_atomic(target, b"first", mode=0o600, replace=False)
    assert fsync_spy.synced_file_then_dir(target)
    with pytest.raises(FileExistsError):
        atomicfile.write_atomic(target, b"second", mode=0o600, replace=False)
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _temps(tmp_path) == []
    dangling = tmp_path / "dangling.key"
    dangling.symlink_to(tmp_path / "missing")
    with pytest.raises(FileExistsError):
        atomicfile.write_atomic(dangling, b"x", mode=0o600, replace=False)
    assert not (tmp_path / "missing").exists()


_KILLER = """
import os, signal, sys
from certmgr import atomicfile

def kill_at(name):
    if name == sys.argv[2]:
        os.kill(os.getpid(), signal.SIGKILL)

atomicfile.write_atomic(sys.argv[1], b"NEW" * 50_000, mode=0o600, checkpoint=kill_at)
"""


@pytest.mark.parametrize("step", STEPS)
def test_a_crash_at_any_step_leaves_the_old_file_or_the_new_one_whole(tmp_path: Path,
                                                                      step: str) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"OLD" * 10)
    target.chmod(0o600)
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(target), step],
                          capture_output=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    content = target.read_bytes()
    expected_new = step == "dir-fsync"  # killed after the rename, before the directory fsync
    assert content == (b"NEW" * 50_000 if expected_new else b"OLD" * 10)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    for temp in _temps(tmp_path):  # a crash may leave its temp file: never broader either
        assert stat.S_IMODE(temp.stat().st_mode) == 0o600
