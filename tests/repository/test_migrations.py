"""The Alembic revisions build exactly the schema the tables module declares."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from certmgr.repository import open_repository
from certmgr.repository.engine import HEAD_REVISION, head_revision, resolve_url
from certmgr.repository.tables import Base


def test_migrated_schema_matches_models(db_url: str | None, repo_home: Path) -> None:
    open_repository(db_url, repo_home).close()
    engine = create_engine(resolve_url(db_url, repo_home))
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_fast_path_revision_is_the_shipped_head() -> None:
    # open_repository skips Alembic when the database is at HEAD_REVISION; a new
    # migration must move that constant too, or databases would never be upgraded.
    assert head_revision() == HEAD_REVISION


def test_reopen_at_head_keeps_the_schema(db_url: str | None, repo_home: Path) -> None:
    open_repository(db_url, repo_home).close()
    with open_repository(db_url, repo_home) as repo:  # the fast path: no Alembic run
        assert repo.list_definitions() == []
