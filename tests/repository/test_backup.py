"""Backup and restore: round trips on SQLite and PostgreSQL, both ways; bad files refused."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from certmgr.errors import InputError, MasterKeyError, RepositoryError
from certmgr.repository import Repository, open_repository
from certmgr.repository.backup import read_header, restore_backup, write_backup
from certmgr.repository.schema import TABLES, q
from tests.repository.fill import populate
from tests.repository.forge import edit_backup, set_column


def _tables(repo: Repository) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log, by primary key."""
    out = {}
    for table in TABLES:
        if table.name == "audit_events":
            continue
        sql = f"SELECT * FROM {table.name} ORDER BY {q(table.key)}"  # noqa: S608
        out[table.name] = [_plain(r) for r in repo._db.read().rows(sql)]
    return out


def _plain(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # The same row read from SQLite or PostgreSQL: times, JSON and booleans alike.
    from certmgr.repository.decode import decode_json, decode_utc

    out: list[Any] = []
    for v in row:
        if isinstance(v, str) and v[:1] in "[{":
            v = decode_json(v)
        elif (isinstance(v, str) and len(v) == 26 and v[10] == " ") or hasattr(v, "tzinfo"):
            v = decode_utc(v)
        out.append(v)
    return tuple(out)


def _round_trip(source_url: str | None, target_url: str | None, tmp_path: Path) -> None:
    src_home, dst_home = tmp_path / "src", tmp_path / "dst"
    with open_repository(source_url, src_home) as src:
        filled = populate(src)
        before = _tables(src)
        audit_before = [(e.action, e.object) for e in src.list_audit(limit=1000)]
        summary = write_backup(src, tmp_path / "repo.backup")
    assert (tmp_path / "repo.backup").stat().st_mode & 0o777 == 0o600
    assert summary.rows["private_keys"] == len(set(filled.refs)) + 1  # + the deploy backup key
    assert summary.master_key["path"] == str(src_home / "master.key")
    restore_backup(target_url, dst_home, tmp_path / "repo.backup",
                   master_key_file=src_home / "master.key")
    assert (dst_home / "master.key").stat().st_mode & 0o777 == 0o600
    with open_repository(target_url, dst_home) as dst:
        assert _tables(dst) == before
        audit_after = [(e.action, e.object) for e in dst.list_audit(limit=1000)]
        assert audit_after[0] == ("repository.restore", "repository")
        assert set(audit_before) <= set(audit_after)
        for ref in filled.refs:
            assert dst.load_private_key(ref, reason="test")
        # new rows get fresh ids after the restored ones (PostgreSQL sequences moved on)
        dst.upsert_host("web3")
        assert dst.get_host("web3").id == max(h.id or 0 for h in dst.list_hosts())


def test_round_trip_sqlite_to_sqlite(tmp_path: Path) -> None:
    _round_trip(None, None, tmp_path)


@pytest.mark.postgres
def test_round_trip_postgresql_to_postgresql(pg_databases: Callable[[], str],
                                             tmp_path: Path) -> None:
    _round_trip(pg_databases(), pg_databases(), tmp_path)


@pytest.mark.postgres
def test_round_trip_sqlite_to_postgresql(pg_url: str, tmp_path: Path) -> None:
    _round_trip(None, pg_url, tmp_path)


@pytest.mark.postgres
def test_round_trip_postgresql_to_sqlite(pg_url: str, tmp_path: Path) -> None:
    _round_trip(pg_url, None, tmp_path)


@pytest.fixture
def backup_file(tmp_path: Path) -> Path:
    with open_repository(None, tmp_path / "src") as src:
        populate(src)
        write_backup(src, tmp_path / "repo.backup")
    return tmp_path / "repo.backup"


def test_header_is_readable_json(backup_file: Path) -> None:
    header = read_header(backup_file)
    assert header["format"] == "certmgr-backup" and header["version"] == 2
    assert header["rows"]["certificates"] == 1


def test_damaged_backup_is_refused_and_nothing_restored(backup_file: Path,
                                                        tmp_path: Path) -> None:
    data = bytearray(backup_file.read_bytes())
    data[-40] ^= 0xFF
    damaged = tmp_path / "damaged.backup"
    damaged.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        restore_backup(None, tmp_path / "dst", damaged, master_key_file=tmp_path / "src" /
                       "master.key")
    assert not (tmp_path / "dst").exists()


@pytest.mark.parametrize("content", [b"", b"hello\n", b'{"format": "other"}\n',
                                     gzip.compress(b"x" * 100)])
def test_foreign_file_is_refused(content: bytes, tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.write_bytes(content)
    with pytest.raises(InputError, match="not a certmgr backup"):
        restore_backup(None, tmp_path / "dst", foreign)


def test_newer_format_is_refused(backup_file: Path, tmp_path: Path) -> None:
    header, _, body = backup_file.read_bytes().partition(b"\n")
    meta = json.loads(header)
    meta["version"] = 99
    newer = tmp_path / "newer.backup"
    newer.write_bytes(json.dumps(meta).encode() + b"\n" + body)
    with pytest.raises(InputError, match="version 99"):
        restore_backup(None, tmp_path / "dst", newer)


def test_restore_refuses_non_empty_repository(backup_file: Path, tmp_path: Path) -> None:
    with open_repository(None, tmp_path / "dst") as dst:
        dst.upsert_host("local")
    with pytest.raises(RepositoryError, match="not empty"):
        restore_backup(None, tmp_path / "dst", backup_file,
                       master_key_file=tmp_path / "src" / "master.key")


def test_restore_needs_the_backups_master_key(backup_file: Path, tmp_path: Path) -> None:
    with pytest.raises(MasterKeyError, match="master key"):
        restore_backup(None, tmp_path / "dst", backup_file)
    # an initialised home has its own new key, which is not the backup's
    open_repository(None, tmp_path / "dst").close()
    with pytest.raises(MasterKeyError, match="not this backup's master key"):
        restore_backup(None, tmp_path / "dst", backup_file,
                       master_key_file=tmp_path / "src" / "master.key")
    with open_repository(None, tmp_path / "dst") as dst:
        assert dst.list_definitions() == []


def test_passphrase_backup_restores_only_with_the_passphrase(tmp_path: Path) -> None:
    with open_repository(None, tmp_path / "src", passphrase="horse battery") as src:
        filled = populate(src)
        write_backup(src, tmp_path / "repo.backup")
    assert not (tmp_path / "src" / "master.key").exists()
    with pytest.raises(MasterKeyError, match="wrong passphrase"):
        restore_backup(None, tmp_path / "dst", tmp_path / "repo.backup", passphrase="nope")
    restore_backup(None, tmp_path / "dst", tmp_path / "repo.backup", passphrase="horse battery")
    with open_repository(None, tmp_path / "dst", passphrase="horse battery") as dst:
        assert dst.load_private_key(filled.refs[0], reason="test")
        assert dst.master_key_info()["mode"] == "passphrase"


def test_backup_refuses_to_overwrite(backup_file: Path, tmp_path: Path) -> None:
    with open_repository(None, tmp_path / "src") as src, \
            pytest.raises(InputError, match="exists"):
        write_backup(src, backup_file)


@pytest.mark.postgres
def test_a_failed_restore_into_postgresql_leaves_the_database_empty(
        backup_file: Path, pg_url: str, tmp_path: Path) -> None:
    # Signed and row-valid, but its certificate names a definition the backup lacks: the
    # load fails after the schema was created; the tables restore made are dropped again.
    key = tmp_path / "src" / "master.key"
    forged = edit_backup(backup_file, tmp_path / "orphan.backup",
                         set_column("certificates", "definition_id", 999), sign_with=key)
    with pytest.raises(RepositoryError, match="nothing was restored"):
        restore_backup(pg_url, tmp_path / "dst", forged, master_key_file=key)
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchall() == []
    assert not (tmp_path / "dst").exists()


def test_a_body_that_differs_from_the_authenticated_one_is_refused_while_read(
        backup_file: Path) -> None:
    # Restore reads the body again after authenticating it: what it reads is hashed and
    # compared with the header's body_sha256, so a file swapped in between fails the load.
    from certmgr.repository.backup import _read_body

    header = read_header(backup_file)
    assert sum(len(chunk) for _, chunk in _read_body(backup_file, header["body_sha256"]))
    with pytest.raises(InputError, match="changed while it was read"):
        for _ in _read_body(backup_file, "0" * 64):
            pass
