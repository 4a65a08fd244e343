"""The key-at-rest rule and the master key's behaviour.

After storing RSA and EC keys (objects, PEM and DER bytes, issuer keys, a deploy
backup of a key file), no distinctive piece of any key appears in the SQLite
file, its -wal, or a backup (raw or decompressed).
"""

from __future__ import annotations

import base64
import gzip
import os
import stat
from pathlib import Path

import pytest

from certmgr.errors import MasterKeyError
from certmgr.repository import open_repository
from certmgr.repository.backup import write_backup
from certmgr.repository.schema import TABLES
from tests.repository.fill import populate


def _needles(secret: bytes) -> list[bytes]:
    """16-byte windows across the key's bytes, and each full base64 line of a PEM."""
    if secret.startswith(b"-----BEGIN"):
        lines = [line for line in secret.splitlines() if line and not line.startswith(b"-----")]
        needles = [line for line in lines if len(line) == 64]
        body = base64.b64decode(b"".join(lines))
    else:
        needles, body = [], secret
    step = max(1, (len(body) - 16) // 6)
    needles += [body[i:i + 16] for i in range(0, len(body) - 16, step)]
    return needles


def _assert_absent(secrets: list[bytes], blobs: dict[str, bytes]) -> None:
    assert all(blobs.values()), "nothing to search"
    for secret in secrets:
        for needle in _needles(secret):
            for name, blob in blobs.items():
                assert needle not in blob, f"key material found in {name}"


def _files(home: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in home.iterdir()
            if p.name.startswith("certmgr.db") and p.stat().st_size}


def test_no_key_bytes_in_database_wal_or_backup(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        filled = populate(repo)
        assert len(filled.secrets) == 12
        open_files = _files(home)
        assert "certmgr.db-wal" in open_files  # the WAL is searched while it holds the data
        write_backup(repo, tmp_path / "repo.backup")
    backup = (tmp_path / "repo.backup").read_bytes()
    body = gzip.decompress(backup.partition(b"\n")[2])
    blobs = {**{f"open {k}": v for k, v in open_files.items()}, **_files(home),
             "backup": backup, "backup body": body}
    _assert_absent(filled.secrets, blobs)
    # The search itself works: the keys' public halves are stored in clear in certificates.
    assert b"BEGIN CERTIFICATE" in body


def test_master_key_file_created_0600_home_0700(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_repository(None, home).close()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "master.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "certmgr.db").stat().st_mode) == 0o600


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        repo.store_private_key(b"-----BEGIN PRIVATE KEY-----\nx\n", kind="import")
    (home / "master.key").chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        open_repository(None, home)


def test_wrong_key_file_is_detected(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        repo.store_private_key(b"secret", kind="import")
    (home / "master.key").unlink()
    fd = os.open(home / "master.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, base64.b64encode(os.urandom(32)))
    os.close(fd)
    with pytest.raises(MasterKeyError, match="not this repository's key"):
        open_repository(None, home)


def test_missing_key_file_fails_only_when_a_key_is_needed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        ref = repo.store_private_key(b"secret", kind="import")
    (home / "master.key").unlink()
    with open_repository(None, home, init_master_key=False) as repo:
        assert repo.list_definitions() == []
        with pytest.raises(MasterKeyError, match="missing"):
            repo.load_private_key(ref, reason="test")


def test_passphrase_protects_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "correct horse")
    with open_repository(None, home) as repo:
        ref = repo.store_private_key(b"secret bytes", kind="import")
    assert not (home / "master.key").exists()
    monkeypatch.setenv("CERTMGR_PASSPHRASE", "wrong horse")
    with pytest.raises(MasterKeyError, match="wrong passphrase"):
        open_repository(None, home)
    monkeypatch.delenv("CERTMGR_PASSPHRASE")
    with open_repository(None, home) as repo, pytest.raises(MasterKeyError, match="passphrase"):
        repo.load_private_key(ref, reason="test")
    with open_repository(None, home, passphrase="correct horse") as repo:
        assert repo.load_private_key(ref, reason="test") == b"secret bytes"


def test_ciphertext_is_bound_to_its_row(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        a = repo.store_private_key(b"key a", kind="import")
        b = repo.store_private_key(b"key b", kind="import")
        with repo._db.tx(write=True) as tx:
            sealed_a = tx.scalar("SELECT ciphertext FROM private_keys WHERE id = ?", (a,))
            tx.execute("UPDATE private_keys SET ciphertext = ? WHERE id = ?", (sealed_a, b))
        with pytest.raises(MasterKeyError, match="altered"):
            repo.load_private_key(b, reason="test")


@pytest.mark.postgres
def test_no_key_bytes_in_a_postgresql_backup_or_table_dump(pg_url: str, tmp_path: Path) -> None:
    with open_repository(pg_url, tmp_path / "home") as repo:
        filled = populate(repo)
        write_backup(repo, tmp_path / "repo.backup")
        values = [v for t in TABLES
                  for row in repo._db.read().rows(f"SELECT * FROM {t.name}")  # noqa: S608
                  for v in row]
    dump = b"\0".join(v if isinstance(v, bytes) else repr(v).encode() for v in values)
    backup = (tmp_path / "repo.backup").read_bytes()
    body = gzip.decompress(backup.partition(b"\n")[2])
    _assert_absent(filled.secrets, {"backup": backup, "backup body": body,
                                    "tables": dump})
