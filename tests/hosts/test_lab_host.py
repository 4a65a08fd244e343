"""A lab host writes only in the directories that are its own (no namespaces needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certmgr.errors import HostError
from certmgr.hosts.lab import LabHost, LabHostInfo


def _host(tmp_path: Path) -> LabHost:
    (tmp_path / "etc/ssl").mkdir(parents=True)
    (tmp_path / "root").mkdir()
    return LabHost(LabHostInfo(name="lab1", address="198.18.0.2", root=tmp_path,
                               netns="certmgr-test-none"))


def test_writes_in_own_directories_land_in_the_tree(tmp_path: Path) -> None:
    host = _host(tmp_path)
    host.write_file_atomic("/etc/ssl/site.crt", b"cert", uid=os.getuid(), gid=os.getgid(),
                           mode=0o644, temp_name=".site.crt.tmp")
    assert (tmp_path / "etc/ssl/site.crt").read_bytes() == b"cert"
    host.make_dir("/root/x", uid=os.getuid(), gid=os.getgid(), mode=0o700)
    assert (tmp_path / "root/x").is_dir()


@pytest.mark.parametrize("path", ["/run/certmgr-lab-test.pid", "/tmp/certmgr-lab-test",
                                  "/usr/local/certmgr-lab-test"])
def test_writes_elsewhere_are_refused_and_touch_nothing(tmp_path: Path, path: str) -> None:
    host = _host(tmp_path)
    with pytest.raises(HostError, match="is not in a directory lab:lab1 owns"):
        host.write_file_atomic(path, b"x", uid=os.getuid(), gid=os.getgid(), mode=0o600,
                               temp_name=".t.tmp")
    with pytest.raises(HostError, match="owns"):
        host.make_dir(path, uid=os.getuid(), gid=os.getgid(), mode=0o700)
    with pytest.raises(HostError, match="owns"):
        host.remove_file(path)
    assert not Path(path).exists()
