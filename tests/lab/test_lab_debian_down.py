"""A second lab: Debian's layout (one snakeoil pair everywhere), then down leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from certmgr.errors import LabError
from certmgr.hosts.servicetable import load_service_table, read_pid_file
from certmgr.lab import lab_down, lab_up, load_state
from certmgr.lab.netns import (
    mounts_under,
    netns_exists,
    pids_in_mount_namespace,
    process_alive,
    veth_exists,
)
from certmgr.lab.probe import served_sha256
from certmgr.lab.programs import HostContext
from certmgr.programs.vsftpd.lab import VsftpdLab as Vsftpd
from certmgr.testing import skip_or_fail
from certmgr.testing.lab import lab_missing

pytestmark = pytest.mark.lab


def test_debian_layout_serves_snakeoil_everywhere_and_down_leaves_nothing(
    tmp_path: Path,
) -> None:
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    lab_dir = tmp_path / "lab"
    try:
        state = lab_up(lab_dir, layout="debian")
        (host_state,) = state.hosts
        host = host_state.host()
        snakeoil = host.read_bytes("/etc/ssl/certs/ssl-cert-snakeoil.pem")
        assert host.stat("/etc/ssl/private") is not None
        key = host.stat("/etc/ssl/private/ssl-cert-snakeoil.key")
        assert key is not None and (key.owner, key.group, key.mode) == ("root", "ssl-cert", 0o640)
        private = host.stat("/etc/ssl/private")
        assert private is not None and (private.group, private.mode) == ("ssl-cert", 0o710)
        assert b"openldap" in host.read_bytes("/etc/group")
        table = load_service_table(host)
        assert table is not None
        served = {served_sha256(e) for entry in table for e in entry.endpoints}
        assert len(served) == 1
        assert served == set(host_state.expected.values())
        assert b"BEGIN CERTIFICATE" in snakeoil
        pids = [read_pid_file(host, entry) for entry in table]
        assert all(p is not None and process_alive(p) for p in pids)
        inside = pids_in_mount_namespace(os.stat(Path(host_state.root) / "mntns").st_ino)
        assert set(pids) <= set(inside)
    finally:
        removed = lab_down(lab_dir)
    assert removed is not None
    # Nothing left: processes, namespaces, veths, mounts, files.
    # Every process that lived in the host (programs, children, workers) is gone.
    assert not [p for p in inside if process_alive(p)]
    assert not netns_exists(host_state.netns)
    assert not veth_exists(host_state.veth)
    assert not mounts_under(tmp_path)
    assert not lab_dir.exists()


def test_a_program_that_does_not_come_up_fails_up_with_its_own_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    original = Vsftpd.install

    def install_then_lose_the_key(self: Vsftpd, ctx: HostContext) -> None:
        original(self, ctx)
        ctx.tree.remove("/etc/vsftpd/ssl/private/www2.example.com.key")

    monkeypatch.setattr(Vsftpd, "install", install_then_lose_the_key)
    lab_dir = tmp_path / "lab"
    try:
        with pytest.raises(LabError, match="vsftpd did not come up") as failed:
            lab_up(lab_dir, programs=["vsftpd"])
        assert "500 OOPS" in failed.value.message  # vsftpd's own words, from its fd 0 log
        state = load_state(lab_dir)
        assert state is not None and state.status == "failed"
        assert not netns_exists(state.hosts[0].netns)
        assert not mounts_under(lab_dir)
    finally:
        lab_down(lab_dir)
    assert not lab_dir.exists()
