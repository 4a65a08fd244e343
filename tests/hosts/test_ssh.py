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
from certmgr.errors import CommandFailed, HostError, UsageError
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
