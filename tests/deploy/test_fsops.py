"""fsops: journaled atomic writes on a --root tree, symlink refusal, LIFO rollback."""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
from pathlib import Path

import pytest

from certmgr.deploy import checkpoints
from certmgr.deploy.checkpoints import DeployInterrupted
from certmgr.deploy.fsops import FileTransaction, recover_pending, sigterm_cancels
from certmgr.deploy.journal import FileJournalStore, JournalState, KeyFileCipher
from certmgr.errors import HostError, MasterKeyError, RollbackFailed
from certmgr.hosts.local import LocalHost
from certmgr.models import FileSpec
from tests.deploy.conftest import OLD_CERT, OLD_CONF, OLD_KEY, SwapAfterLstat

NEW_KEY = b"-----BEGIN PRIVATE KEY-----\nNEW\n-----END PRIVATE KEY-----\n"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_write_replaces_with_exact_mode_and_commit_drops_old_bytes(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    with FileTransaction(host, store, cipher, label="t") as txn:
        assert txn.write(FileSpec("/etc/ssl/private/old.key", "svc", "svc", 0o640), NEW_KEY,
                         secret=True)
    assert (tree / "etc/ssl/private/old.key").read_bytes() == NEW_KEY
    assert mode_of(tree / "etc/ssl/private/old.key") == 0o640
    record = store.load(txn.txn_id)
    assert record.state is JournalState.COMMITTED
    assert all(e.old_data is None for e in record.entries)
    assert not [p for p in (tree / "etc/ssl/private").iterdir() if p.name.startswith(".")]


def test_same_content_and_attrs_is_not_a_change(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    with FileTransaction(host, store, cipher) as txn:
        assert not txn.write(FileSpec("/etc/prog/prog.conf", "svc", "svc", 0o644), OLD_CONF)
    assert txn.record.entries == ()


def test_rollback_restores_everything_last_first_and_keys_are_encrypted(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    with pytest.raises(RuntimeError, match="verify failed"), \
            FileTransaction(host, store, cipher) as txn:
        txn.ensure_dir(FileSpec("/etc/prog/ssl/private", "svc", "svc", 0o700))
        txn.write(FileSpec("/etc/prog/ssl/private/new.key", "svc", "svc", 0o600), NEW_KEY,
                  secret=True)
        txn.write(FileSpec("/etc/ssl/private/old.key", "svc", "svc", 0o600), NEW_KEY,
                  secret=True)
        txn.write(FileSpec("/etc/prog/prog.conf", "svc", "svc", 0o644), b"edited\n",
                  config_edit=True)
        # While open, the journal holds the old key only encrypted.
        raw = (store.directory / f"{txn.txn_id}.json").read_text()
        assert "OLDkkk" not in raw and "T0xEa2tr" not in raw  # plain nor base64 of "OLDkkk"
        assert mode_of(store.directory / f"{txn.txn_id}.json") == 0o600
        raise RuntimeError("verify failed")
    assert (tree / "etc/ssl/private/old.key").read_bytes() == OLD_KEY
    assert mode_of(tree / "etc/ssl/private/old.key") == 0o600
    assert (tree / "etc/prog/prog.conf").read_bytes() == OLD_CONF
    assert not (tree / "etc/prog/ssl").exists()  # created dirs removed, parents too
    record = store.load(txn.txn_id)
    assert record.state is JournalState.ROLLED_BACK
    assert record.detail["_reason"] == "verify failed"
    assert record.detail["/etc/prog/ssl"] == "removed"


def test_existing_directory_gets_owner_and_mode_and_rollback_restores_it(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    txn = FileTransaction(host, store, cipher)
    txn.ensure_dir(FileSpec("/etc/ssl/private", "svc", "svc", 0o750))
    assert mode_of(tree / "etc/ssl/private") == 0o750
    steps = txn.rollback()
    assert [s.state for s in steps] == ["restored"]
    assert mode_of(tree / "etc/ssl/private") == 0o700


@pytest.mark.parametrize("link", ["etc/prog", "etc/prog/prog.conf"])
def test_symlink_in_target_path_is_refused(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher,
        link: str) -> None:
    target = tree / link
    moved = tree / "elsewhere"
    target.rename(moved)
    target.symlink_to(moved)
    txn = FileTransaction(host, store, cipher)
    with pytest.raises(HostError, match="symbolic link"):
        txn.write(FileSpec("/etc/prog/prog.conf", "svc", "svc", 0o644), b"x")
    assert txn.record.entries == ()
    assert (moved / "prog.conf" if moved.is_dir() else moved).read_bytes() == OLD_CONF


def test_host_write_refuses_symlinked_directory_itself(tree: Path, host: LocalHost) -> None:
    # Defence in depth: the host walks with O_NOFOLLOW even if fsops was bypassed.
    (tree / "etc/prog").rename(tree / "real")
    (tree / "etc/prog").symlink_to(tree / "real")
    with pytest.raises(HostError, match="symbolic link"):
        host.write_file_atomic("/etc/prog/x", b"x", uid=os.getuid(), gid=os.getgid(),
                               mode=0o600, temp_name=".x.tmp")
    assert not (tree / "real/x").exists()


def test_temp_file_never_broader_than_final_mode(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    seen: list[int] = []

    def spy(name: str) -> None:
        if name in ("temp-write", "fsync", "rename"):
            temps = [p for p in (tree / "etc/ssl/private").iterdir() if p.name.endswith(".tmp")]
            seen.extend(mode_of(p) for p in temps)

    remove = checkpoints.add_hook(spy)
    old_umask = os.umask(0)  # even with a wide-open umask
    try:
        with FileTransaction(host, store, cipher) as txn:
            txn.write(FileSpec("/etc/ssl/private/old.key", "svc", "svc", 0o600), NEW_KEY,
                      secret=True)
    finally:
        os.umask(old_umask)
        remove()
    assert seen == [0o600, 0o600, 0o600]


def test_recover_pending_rolls_back_an_open_record(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    txn = FileTransaction(host, store, cipher, label="killed")
    txn.write(FileSpec("/etc/ssl/certs/old.pem", "svc", "svc", 0o644), b"new cert")
    txn.write(FileSpec("/etc/ssl/certs/added.pem", "svc", "svc", 0o644), b"added")
    # The process "dies" here: a fresh run recovers from the journal alone.
    outcomes = recover_pending(FileJournalStore(store.directory),
                               KeyFileCipher(cipher.key_file), lambda name: LocalHost(root=tree))
    assert [(o.label, o.ok) for o in outcomes] == [("killed", True)]
    assert (tree / "etc/ssl/certs/old.pem").read_bytes() == OLD_CERT
    assert not (tree / "etc/ssl/certs/added.pem").exists()
    assert store.pending() == []


def test_failed_rollback_is_loud_and_stays_pending(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    txn = FileTransaction(host, store, cipher)
    txn.write(FileSpec("/etc/prog/prog.conf", "svc", "svc", 0o644), b"edited\n")
    (tree / "etc/prog").rename(tree / "moved")
    (tree / "etc/prog").symlink_to(tree / "moved")
    with pytest.raises(RollbackFailed, match=r"/etc/prog/prog.conf: failed .*symbolic link"):
        txn.rollback()
    assert [r.txn_id for r in store.pending()] == [txn.txn_id]
    (tree / "etc/prog").unlink()
    (tree / "moved").rename(tree / "etc/prog")
    outcomes = recover_pending(store, cipher, lambda name: host)
    assert outcomes[0].ok and (tree / "etc/prog/prog.conf").read_bytes() == OLD_CONF


def test_journal_key_from_another_home_cannot_decrypt(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher,
        tmp_path: Path) -> None:
    txn = FileTransaction(host, store, cipher)
    txn.write(FileSpec("/etc/ssl/private/old.key", "svc", "svc", 0o600), NEW_KEY, secret=True)
    other = KeyFileCipher(tmp_path / "other.key")
    with pytest.raises(RollbackFailed, match="does not decrypt"):
        FileTransaction(host, store, other, record=txn.record).rollback()
    with pytest.raises(MasterKeyError):
        other.decrypt(cipher.encrypt(b"x"))
    txn.rollback()
    assert (tree / "etc/ssl/private/old.key").read_bytes() == OLD_KEY


def test_sigterm_cancels_at_next_checkpoint_and_rolls_back(
        tree: Path, host: LocalHost, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    try:
        with sigterm_cancels(), pytest.raises(DeployInterrupted), \
                FileTransaction(host, store, cipher) as txn:
            txn.write(FileSpec("/etc/ssl/certs/old.pem", "svc", "svc", 0o644), b"new")
            os.kill(os.getpid(), signal.SIGTERM)
            txn.write(FileSpec("/etc/prog/prog.conf", "svc", "svc", 0o644), b"edited")
    finally:
        checkpoints.clear_cancel()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert (tree / "etc/ssl/certs/old.pem").read_bytes() == OLD_CERT
    assert (tree / "etc/prog/prog.conf").read_bytes() == OLD_CONF
    assert json.loads((store.directory / f"{txn.txn_id}.json").read_text())["state"] == \
        "rolled-back"


def test_repository_cipher_keeps_old_keys_under_the_master_key(
        tree: Path, host: LocalHost, store: FileJournalStore, tmp_path: Path) -> None:
    from certmgr.deploy.journal import RepositoryCipher
    from certmgr.repository import open_repository

    repo = open_repository(None, tmp_path / "repo-home")
    try:
        txn = FileTransaction(host, store, RepositoryCipher(repo))
        txn.write(FileSpec("/etc/ssl/private/old.key", "svc", "svc", 0o600), NEW_KEY,
                  secret=True)
        raw = (store.directory / f"{txn.txn_id}.json").read_text()
        assert "repository-key" not in raw  # base64 of the reference, not the key
        assert "OLDkkk" not in raw
        txn.rollback()
        assert (tree / "etc/ssl/private/old.key").read_bytes() == OLD_KEY
        reads = repo.list_audit(action="key.read")
        assert [e.detail["reason"] for e in reads] == ["deploy rollback"]
    finally:
        repo.close()


def test_a_link_swapped_in_after_the_lstat_never_reaches_journal_or_rollback(
        tree: Path, store: FileJournalStore, cipher: KeyFileCipher) -> None:
    secret = b"root:$6$nobody-may-copy-this$\n"
    (tree / "etc/shadow").write_bytes(secret)
    (tree / "etc/shadow").chmod(0o600)
    host = SwapAfterLstat(tree, "/etc/ssl/certs/old.pem")
    with pytest.raises(HostError, match="symbolic link"), \
            FileTransaction(host, store, cipher) as txn:
        txn.write(FileSpec("/etc/ssl/certs/old.pem", "svc", "svc", 0o644), b"new\n")
        raise RuntimeError("verify failed")  # not reached once the read refuses the link
    assert host.swapped
    journal = b"".join(p.read_bytes() for p in store.directory.rglob("*") if p.is_file())
    assert secret not in journal and base64.b64encode(secret) not in journal
    copies = [p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
              and p.name != "shadow" and secret in p.read_bytes()]
    assert copies == []
