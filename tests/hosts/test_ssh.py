"""SSHHost against a real sshd on 127.0.0.1: reading, running, atomic writes, fsops."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.deploy import checkpoints
from certmgr.deploy.fsops import FileTransaction
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.errors import CertmgrError, CommandFailed, HostError, UsageError
from certmgr.hosts.base import WritableHost
from certmgr.hosts.ssh import SSHHost, parse_ssh_url
from certmgr.models import FileSpec
from tests.hosts.sshd import Sshd, running_sshd

pytestmark = pytest.mark.ssh


@pytest.fixture(scope="module")
def sshd() -> Iterator[Sshd]:
    with running_sshd() as server:
        yield server


@pytest.fixture(scope="module")
def host(sshd: Sshd) -> Iterator[SSHHost]:
    with SSHHost(sshd.url, key=sshd.key, known_hosts=sshd.known_hosts) as h:
        yield h


@pytest.fixture
def work(sshd: Sshd, tmp_path: Path) -> Path:
    path = Path(os.path.realpath(sshd.workdir / tmp_path.name))
    path.mkdir()
    return path


@pytest.mark.parametrize(("url", "expected"), [
    ("ssh://198.18.0.2", ("root", "198.18.0.2", 22)),
    ("ssh://deploy@host.example:2222", ("deploy", "host.example", 2222)),
])
def test_parse_ssh_url(url: str, expected: tuple[str, str, int]) -> None:
    addr = parse_ssh_url(url)
    assert (addr.user, addr.host, addr.port) == expected


@pytest.mark.parametrize("url", ["http://x", "ssh://u:pw@x", "ssh://x/path", "ssh://x:99999"])
def test_parse_ssh_url_refuses(url: str) -> None:
    with pytest.raises(UsageError):
        parse_ssh_url(url)


def test_reads_and_runs(host: SSHHost, work: Path) -> None:
    assert isinstance(host, WritableHost)
    (work / "a.txt").write_bytes(b"hello")
    assert host.read_bytes(str(work / "a.txt")) == b"hello"
    assert host.read_bytes(str(work / "a.txt"), limit=2) == b"he"
    st = host.stat(str(work / "a.txt"))
    assert st is not None and st.is_file and st.owner == "root" and st.size == 5
    assert host.stat(str(work / "missing")) is None
    assert host.listdir(str(work)) == ["a.txt"]
    assert host.glob(str(work / "*.txt")) == [str(work / "a.txt")]
    result = host.run(["sh", "-c", 'cat; echo "$1" >&2', "sh", "it's"], input=b"in")
    assert (result.stdout, result.stderr.strip()) == ("in", "it's")
    with pytest.raises(CommandFailed, match="exited 3"):
        host.run(["sh", "-c", "exit 3"])
    assert host.which("sshd") == "/usr/sbin/sshd"
    assert host.which("no-such-program-here") is None
    assert host.users()[0] == "root"
    with pytest.raises(HostError, match="does not exist"):
        host.read_bytes(str(work / "missing"))


def test_wrong_host_key_is_refused(sshd: Sshd, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    text = sshd.known_hosts.read_text().split()
    other.write_text(f"{text[0]} {text[1]} AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH"
                     "5C9okWi0dh2l9GKJl\n")
    with SSHHost(sshd.url, key=sshd.key, known_hosts=other) as h, \
            pytest.raises(HostError, match="host key not trusted"):
        h.read_bytes("/etc/hostname")
    with SSHHost(sshd.url, key=sshd.key, known_hosts=tmp_path / "none") as h, \
            pytest.raises(HostError, match=r"known_hosts file .* does not exist"):
        h.read_bytes("/etc/hostname")


def test_atomic_write_owner_mode_and_no_broader_temp(host: SSHHost, work: Path) -> None:
    target = work / "site.key"
    target.write_bytes(b"old")
    target.chmod(0o600)
    gid = int(os.stat("/etc/passwd").st_gid)
    modes: list[int] = []

    def spy(name: str) -> None:
        modes.extend(stat.S_IMODE(p.stat().st_mode) for p in work.glob(".*.tmp"))
        del name

    host.write_file_atomic(str(target), b"new key" * 100, uid=0, gid=gid, mode=0o640,
                           temp_name=".site.key.tmp", checkpoint=spy)
    assert target.read_bytes() == b"new key" * 100
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert modes == [0o640, 0o640, 0o640]
    assert not list(work.glob(".*.tmp"))


def test_symlinks_refused_over_ssh(host: SSHHost, work: Path) -> None:
    (work / "real").mkdir()
    (work / "link").symlink_to(work / "real")
    with pytest.raises(HostError, match="symbolic link"):
        host.write_file_atomic(str(work / "link/x"), b"x", uid=0, gid=0, mode=0o600,
                               temp_name=".x.tmp")
    assert not (work / "real/x").exists()


def test_fsops_transaction_over_ssh_rolls_back(host: SSHHost, work: Path,
                                               tmp_path: Path) -> None:
    (work / "app.conf").write_text("old conf\n")
    store = FileJournalStore(tmp_path / "journal")
    cipher = KeyFileCipher(tmp_path / "journal.key")
    hits: list[str] = []
    remove = checkpoints.add_hook(hits.append)
    try:
        with pytest.raises(RuntimeError), FileTransaction(host, store, cipher) as txn:
            txn.ensure_dir(FileSpec(str(work / "ssl/private"), "root", "root", 0o700))
            txn.write(FileSpec(str(work / "ssl/private/a.key"), "root", "root", 0o600),
                      b"KEY", secret=True)
            txn.write(FileSpec(str(work / "app.conf"), "root", "root", 0o644), b"new conf\n",
                      config_edit=True)
            assert stat.S_IMODE((work / "ssl/private").stat().st_mode) == 0o700
            assert (work / "app.conf").read_text() == "new conf\n"
            raise RuntimeError("verify failed")
    finally:
        remove()
    assert (work / "app.conf").read_text() == "old conf\n"
    assert not (work / "ssl").exists()
    assert {"mkdir", "temp-write", "fsync", "rename", "dir-fsync", "config-edit",
            "rollback-step"} <= set(hits)
    assert store.load(txn.txn_id).state.value == "rolled-back"


# -- symlinks refused on the fast (REALPATH) and the walking path; fewer round trips ------


@pytest.fixture(params=["realpath", "walk"])
def link_host(request: pytest.FixtureRequest, sshd: Sshd) -> Iterator[SSHHost]:
    """A host that proves paths link-free with one REALPATH (OpenSSH), or by lstat walk."""
    with SSHHost(sshd.url, key=sshd.key, known_hosts=sshd.known_hosts) as h:
        h.read_bytes("/etc/hostname")  # connects, and asks how the server's REALPATH works
        assert h._realpath_resolves  # OpenSSH's sftp-server resolves links
        h._realpath_resolves = request.param == "realpath"
        yield h


def _txn(host: SSHHost, tmp_path: Path) -> FileTransaction:
    return FileTransaction(host, FileJournalStore(tmp_path / "journal"),
                           KeyFileCipher(tmp_path / "journal.key"))


def test_link_swapped_in_after_the_plan_is_refused_at_write_time(
        link_host: SSHHost, work: Path, tmp_path: Path) -> None:
    (work / "conf").mkdir()
    (work / "conf/app.conf").write_text("old\n")
    (work / "elsewhere").mkdir()

    def swap(name: str) -> None:
        # Between fsops' look at the path and the write: an attacker's link.
        if name == "journal-record":
            (work / "conf").rename(work / "conf.real")
            (work / "conf").symlink_to(work / "elsewhere")

    txn = _txn(link_host, tmp_path)
    remove = checkpoints.add_hook(swap)
    try:
        with pytest.raises(HostError, match="symbolic link"):
            txn.write(FileSpec(str(work / "conf/app.conf"), "root", "root", 0o644), b"new\n")
    finally:
        remove()
    assert list((work / "elsewhere").iterdir()) == []
    (work / "conf").unlink()
    (work / "conf.real").rename(work / "conf")
    assert [s.state for s in txn.rollback()] == ["unchanged"]
    assert (work / "conf/app.conf").read_text() == "old\n"


@pytest.mark.parametrize("where", ["file", "parent", "above"])
def test_fsops_refuses_a_link_at_any_depth_over_ssh(
        link_host: SSHHost, work: Path, tmp_path: Path, where: str) -> None:
    (work / "real/ssl").mkdir(parents=True)
    (work / "real/ssl/site.crt").write_text("old\n")
    (work / "dir/ssl").mkdir(parents=True)
    target = {"file": work / "dir/ssl/site.crt", "parent": work / "dir/ssl",
              "above": work / "dir"}[where]
    if target.exists():
        target.rename(work / "moved")
    target.symlink_to({"file": work / "real/ssl/site.crt", "parent": work / "real/ssl",
                       "above": work / "real"}[where])
    with _txn(link_host, tmp_path) as txn:
        with pytest.raises(HostError, match="symbolic link"):
            txn.write(FileSpec(str(work / "dir/ssl/site.crt"), "root", "root", 0o644), b"new\n")
        if where != "file":
            with pytest.raises(HostError, match="symbolic link"):
                txn.ensure_dir(FileSpec(str(work / "dir/ssl/private"), "root", "root", 0o700))
    assert (work / "real/ssl/site.crt").read_text() == "old\n"
    assert not (work / "real/ssl/private").exists()
    assert txn.record.entries == ()


def test_fsops_creates_missing_parents_over_ssh(link_host: SSHHost, work: Path,
                                               tmp_path: Path) -> None:
    with _txn(link_host, tmp_path) as txn:
        assert txn.write(FileSpec(str(work / "a/b/c.key"), "root", "root", 0o600), b"k",
                         secret=True)
    assert (work / "a/b/c.key").read_bytes() == b"k"
    assert stat.S_IMODE((work / "a/b/c.key").stat().st_mode) == 0o600
    assert [e.op for e in txn.record.entries] == ["mkdir", "mkdir", "write"]


def test_stat_many_answers_in_order(host: SSHHost, work: Path) -> None:
    (work / "f").write_text("x")
    (work / "l").symlink_to(work / "f")
    found = host.stat_many([str(work / "f"), str(work / "missing"), str(work / "l")],
                           follow_symlinks=False)
    assert [s.is_file if s else None for s in found] == [True, None, False]
    assert found[2] is not None and found[2].is_symlink
    assert [s.path if s else None for s in host.stat_many([str(work / "l")])] == [
        str(work / "l")]


def test_setid_mode_is_set_after_the_owner(host: SSHHost, work: Path) -> None:
    # A chown clears set-id bits, so such a mode needs its own request after it.
    gid = int(os.stat("/etc/passwd").st_gid)
    host.write_file_atomic(str(work / "tool"), b"#!/bin/sh\n", uid=0, gid=gid, mode=0o2750,
                           temp_name=".tool.tmp")
    st = (work / "tool").stat()
    assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o2750, gid)


def test_hosts_share_one_event_loop_and_close_alone(sshd: Sshd, work: Path) -> None:
    (work / "a.txt").write_text("a")
    first = SSHHost(sshd.url, key=sshd.key, known_hosts=sshd.known_hosts)
    with SSHHost(sshd.url, key=sshd.key, known_hosts=sshd.known_hosts) as second:
        assert first.read_bytes(str(work / "a.txt")) == second.read_bytes(
            str(work / "a.txt")) == b"a"
        assert first._loop is second._loop
        first.close()
        assert second.read_bytes(str(work / "a.txt")) == b"a"
        assert first.read_bytes(str(work / "a.txt")) == b"a"  # reconnects
        first.close()


@pytest.mark.parametrize("at", ["read-old", "rollback-read"])
def test_link_swapped_in_at_a_read_is_never_read_over_ssh(
        link_host: SSHHost, work: Path, tmp_path: Path, at: str) -> None:
    (work / "ssl").mkdir()
    (work / "ssl/site.crt").write_bytes(b"old\n")
    (work / "ssl/site.crt").chmod(0o644)
    secret = work / "shadow"
    secret.write_bytes(b"the-secret-nobody-may-copy\n")
    secret.chmod(0o600)
    done = []

    def attacker(name: str) -> None:
        if name == at and not done:
            done.append(name)
            (work / "ssl/site.crt").unlink()
            (work / "ssl/site.crt").symlink_to(secret)

    txn = _txn(link_host, tmp_path)
    remove = checkpoints.add_hook(attacker)
    try:
        with pytest.raises(CertmgrError, match="symbolic link"), txn:
            txn.write(FileSpec(str(work / "ssl/site.crt"), "root", "root", 0o644), b"new\n")
            raise RuntimeError("verify failed")
    finally:
        remove()
    assert done == [at]
    copies = [p for base in (work, tmp_path) for p in base.rglob("*")
              if p.is_file() and not p.is_symlink() and p != secret
              and b"nobody-may-copy" in p.read_bytes()]
    assert copies == []
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_read_link_free_over_ssh(link_host: SSHHost, work: Path) -> None:
    (work / "a.key").write_bytes(b"key\n")
    (work / "a.key").chmod(0o600)
    data, st = link_host.read_link_free(str(work / "a.key")) or (b"", None)
    assert data == b"key\n" and st is not None and st.mode == 0o600 and st.is_file
    assert link_host.read_link_free(str(work / "missing")) is None
    (work / "link").symlink_to(work / "a.key")
    with pytest.raises(HostError, match="symbolic link"):
        link_host.read_link_free(str(work / "link"))
    os.mkfifo(work / "fifo")
    with pytest.raises(HostError, match="not a regular file"):
        link_host.read_link_free(str(work / "fifo"))


def test_connect_timeout_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from certmgr.hosts import ssh

    monkeypatch.setattr(ssh, "_CONNECT_TIMEOUT", 0.5)
    known = tmp_path / "known_hosts"
    known.write_text("")
    with socket.socket() as silent:  # accepts TCP (the backlog does) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with SSHHost(f"ssh://root@127.0.0.1:{port}", known_hosts=known) as h, \
                pytest.raises(HostError) as raised:
            h.read_bytes("/etc/hostname")
    message = raised.value.message
    assert message.startswith(f"cannot connect to ssh://root@127.0.0.1:{port}: ")
    assert "no SSH answer within 0.5s" in message
