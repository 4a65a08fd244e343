"""Opening: URL rules, password masking, refusing foreign or newer databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from certmgr.errors import RepositoryError
from certmgr.repository import open_repository
from certmgr.repository.db import display_url, resolve_url


@pytest.mark.parametrize("given", ["postgresql://u:pw@db.example:5433/certmgr",
                                   "postgres://u:pw@db.example:5433/certmgr",
                                   "postgresql+psycopg2://u:pw@db.example:5433/certmgr"])
def test_postgresql_urls_use_psycopg3_and_display_masked(given: str, tmp_path: Path) -> None:
    url = resolve_url(given, tmp_path)
    assert url.backend == "postgresql" and url.database == "certmgr"
    assert url.conninfo == "postgresql://u:pw@db.example:5433/certmgr"
    assert display_url(url) == "postgresql://u:***@db.example:5433/certmgr"


def test_default_is_sqlite_in_home(tmp_path: Path) -> None:
    assert resolve_url(None, tmp_path).path == tmp_path / "certmgr.db"


@pytest.mark.parametrize("given, word", [("postgresql://u@h", "names no database"),
                                         ("sqlite://", "SQLite file"),
                                         ("oracle://u@h/x", "not supported"),
                                         ("::", "not a database URL")])
def test_bad_urls(given: str, word: str, tmp_path: Path) -> None:
    with pytest.raises(RepositoryError, match=word):
        resolve_url(given, tmp_path)


def _db_with(path: Path, *statements: str) -> str:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def test_other_applications_alembic_database_is_refused(tmp_path: Path) -> None:
    url = _db_with(tmp_path / "other.db", "CREATE TABLE alembic_version (version_num TEXT)",
                   "INSERT INTO alembic_version VALUES ('abc123')", "CREATE TABLE users (id)")
    with pytest.raises(RepositoryError, match="did not create"):
        open_repository(url, tmp_path / "home")


def test_newer_certmgr_database_is_refused(tmp_path: Path) -> None:
    open_repository(None, tmp_path / "home").close()
    db = tmp_path / "home" / "certmgr.db"
    _db_with(db, "UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(RepositoryError, match="upgrade certmgr"):
        open_repository(None, tmp_path / "home")


@pytest.mark.postgres
def test_a_lost_postgresql_connection_is_opened_again(pg_url: str, tmp_path: Path) -> None:
    # The monitor runs for days; a server restart between its transactions is not an error.
    import psycopg

    with open_repository(pg_url, tmp_path / "home") as repo:
        pid = repo._db.read().scalar("SELECT pg_backend_pid()")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert repo.list_definitions() == []
        repo.upsert_host("web1")  # and a transaction after it
        assert [h.name for h in repo.list_hosts()] == ["web1"]
