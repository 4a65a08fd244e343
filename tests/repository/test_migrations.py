"""The schema: a new database gets it in one step, and databases made by the
Alembic-based certmgr (revision 0001, recorded in alembic_version) open as they are,
with their data, and have exactly the schema a new database gets.

``data/v0001_*.sql`` are dumps of repositories filled by ``tests/repository/fill.py``
with that earlier certmgr, with their master key files.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from certmgr.repository import open_repository
from certmgr.repository.db import resolve_url
from certmgr.repository.schema import HEAD_REVISION, TABLES

DATA = Path(__file__).parent / "data"


def _old_home(backend: str, home: Path, pg_url: str | None = None) -> str | None:
    """A home (and database) exactly as the Alembic-based certmgr left it."""
    home.mkdir(mode=0o700)
    shutil.copyfile(DATA / f"v0001_{backend}.master.key", home / "master.key")
    (home / "master.key").chmod(0o600)
    script = (DATA / f"v0001_{backend}.sql").read_text()
    if backend == "sqlite":
        conn = sqlite3.connect(home / "certmgr.db")
        conn.executescript(script)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
        (home / "certmgr.db").chmod(0o600)
        return None
    assert pg_url is not None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(script.encode())
    return pg_url


def _schema(db_url: str | None, home: Path) -> dict[str, Any]:
    """Columns, indexes and constraints of every table, as the database reports them."""
    url = resolve_url(db_url, home)
    out: dict[str, Any] = {}
    if url.backend == "sqlite":
        conn = sqlite3.connect(str(url.path))
        for t in [*TABLES]:
            out[t.name] = (
                conn.execute(f"PRAGMA table_info({t.name})").fetchall(),
                sorted((r[1], r[2]) for r in conn.execute(f"PRAGMA index_list({t.name})")),
                sorted(conn.execute(f"PRAGMA foreign_key_list({t.name})").fetchall()))
        conn.close()
        return out
    with psycopg.connect(url.conninfo) as conn:
        for t in TABLES:
            out[t.name] = (
                conn.execute("SELECT column_name, data_type, is_nullable, "
                             "character_maximum_length, column_default FROM "
                             "information_schema.columns WHERE table_name = %s "
                             "ORDER BY ordinal_position", (t.name,)).fetchall(),
                sorted(conn.execute("SELECT indexname, indexdef FROM pg_indexes "
                                    "WHERE tablename = %s", (t.name,)).fetchall()),
                sorted(conn.execute("SELECT conname, pg_get_constraintdef(c.oid) FROM "
                                    "pg_constraint AS c JOIN pg_class AS r ON c.conrelid = "
                                    "r.oid WHERE r.relname = %s", (t.name,)).fetchall()))
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _urls(backend: str, request: pytest.FixtureRequest) -> tuple[str | None, str | None]:
    if backend == "sqlite":
        return None, None
    new = request.getfixturevalue("pg_databases")
    return new(), new()


def test_an_alembic_era_repository_opens_with_its_data(backend: str, tmp_path: Path,
                                                       request: pytest.FixtureRequest) -> None:
    old_url, _ = _urls(backend, request)
    home = tmp_path / "old"
    url = _old_home(backend, home, old_url)
    refs = json.loads((DATA / "v0001_refs.json").read_text())[backend]
    with open_repository(url, home) as repo:
        assert [d.name for d in repo.list_definitions()] == ["www"]
        assert [c.version for c in repo.list_certificates(current_only=False)] == [1]
        assert repo.list_slots()[0].endpoints[0].port == 8443
        assert repo.get_user("admin").role == "admin"
        assert repo.latest_observations()[0].ok
        for ref in refs:
            assert repo.load_private_key(ref, reason="test")
        # and it takes new rows
        repo.upsert_host("web9")
        assert repo.get_host("web9").id == max(h.id or 0 for h in repo.list_hosts())
        revision = repo._db.read().scalar("SELECT version_num FROM alembic_version")
    assert revision == HEAD_REVISION


def test_a_new_repository_has_the_alembic_era_schema_brought_forward(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # 0002 (web console) adds columns and a table: an old database migrated to the head
    # revision has exactly the schema a new one gets, defaults included.
    old_url, new_url = _urls(backend, request)
    old = _old_home(backend, tmp_path / "old", old_url)
    open_repository(old, tmp_path / "old").close()
    open_repository(new_url, tmp_path / "new").close()
    assert _schema(new_url, tmp_path / "new") == _schema(old, tmp_path / "old")


def test_a_new_repository_is_set_up_in_one_transaction(db_url: str | None,
                                                       repo_home: Path) -> None:
    open_repository(db_url, repo_home).close()
    with open_repository(db_url, repo_home) as repo:
        assert repo._db.read().rows("SELECT version_num FROM alembic_version") == \
            [(HEAD_REVISION,)]
        assert repo.list_definitions() == []
        # the master key record is the only row besides its audit event
        assert [e.action for e in repo.list_audit()] == ["master_key.create"]
