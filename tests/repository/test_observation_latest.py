"""Schema 0004: each endpoint's newest observation is marked when stored, and a 0003
repository (observations without the mark) is brought forward with the newest of each
endpoint marked."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from certmgr.repository import ObservationRecord, Repository, open_repository
from certmgr.repository.schema import HEAD_REVISION

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _observe(repo: Repository, port: int, minutes: int, *, ok: bool = True,
             sni: str | None = None, keep: int = 100) -> None:
    repo.add_observation(ObservationRecord("127.0.0.1", port, "direct",
                                           T0 + timedelta(minutes=minutes), ok=ok, sni=sni),
                         keep=keep)


def _latest(repo: Repository) -> list[tuple[int, str, datetime, bool]]:
    return sorted((o.port, o.sni or "", o.time, o.ok) for o in repo.latest_observations())


def test_the_newest_observation_of_each_endpoint_is_the_latest(repo: Repository) -> None:
    for minute in range(4):
        _observe(repo, 443, minute, ok=minute != 3)
    _observe(repo, 443, 1, sni="a.example")  # same address and port, another name
    _observe(repo, 25, 0, keep=1)
    _observe(repo, 25, 1, ok=False, keep=1)  # the history is cut to 1: the new one stays
    assert _latest(repo) == [(25, "", T0 + timedelta(minutes=1), False),
                             (443, "", T0 + timedelta(minutes=3), False),
                             (443, "a.example", T0 + timedelta(minutes=1), True)]
    assert len(repo.observation_history("127.0.0.1", 443, "direct")) == 4


def test_an_observation_older_than_the_stored_ones_leaves_the_newest_marked(
        repo: Repository) -> None:
    _observe(repo, 443, 5, keep=3)
    _observe(repo, 443, 1, ok=False, keep=3)  # older: kept in the history, not the latest
    assert _latest(repo) == [(443, "", T0 + timedelta(minutes=5), True)]
    _observe(repo, 25, 5, keep=1)
    _observe(repo, 25, 1, ok=False, keep=1)  # older than the one kept: not kept at all
    assert _latest(repo) == [(25, "", T0 + timedelta(minutes=5), True),
                             (443, "", T0 + timedelta(minutes=5), True)]
    assert [o.time for o in repo.observation_history("127.0.0.1", 25, "direct")] == [
        T0 + timedelta(minutes=5)]


def test_a_0003_repository_gets_its_newest_observations_marked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        for minute in range(3):
            _observe(repo, 443, minute)
            _observe(repo, 8443, minute, ok=minute == 0)
    # the repository as 0003 left it: no mark, no index
    conn = sqlite3.connect(home / "certmgr.db")
    conn.execute("DROP INDEX ix_observations_latest")
    conn.execute("DROP INDEX ix_definitions_renew_before")  # 0005's
    conn.execute("DROP INDEX ix_definitions_acme")
    conn.execute("DROP INDEX ix_certificates_current_not_after")  # 0006's
    conn.execute("ALTER TABLE observations DROP COLUMN latest")
    conn.execute("UPDATE alembic_version SET version_num = '0003'")
    conn.commit()
    conn.close()
    with open_repository(None, home) as repo:
        assert _latest(repo) == [(443, "", T0 + timedelta(minutes=2), True),
                                 (8443, "", T0 + timedelta(minutes=2), False)]
        _observe(repo, 443, 3, ok=False)
        assert _latest(repo)[0] == (443, "", T0 + timedelta(minutes=3), False)
        assert repo._db.read().scalar("SELECT version_num FROM alembic_version") == \
            HEAD_REVISION
