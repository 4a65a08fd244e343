"""The audit log's filters (actor, subject, dates, result, pages), through the use case
the CLI, the console's page and ``GET /api/v1/audit`` share, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from certmgr.app.audit import audit_filter, audit_page, result_of
from certmgr.errors import InputError
from certmgr.repository import open_repository


def test_filters_select_what_they_say(db_url: str | None, repo_home: Path) -> None:
    repo = open_repository(db_url, repo_home, actor="tester")
    try:
        repo.record_event("login.ok", "user:alice", {}, actor="alice")
        repo.record_event("login.failed", "user:alice", {"failed": "password"},
                          actor="anonymous")
        repo.record_event("access.denied", "route:POST /api/v1/users", {}, actor="bob")
        repo.record_event("definition.save", "definition:Web_1", {}, actor="alice")
        repo.record_event("definition.save", "definition:web%2", {}, actor="alice")

        def actions(**given: str) -> list[str]:
            page = audit_page(repo, audit_filter(**given), limit=100)
            return [f"{e.action} {e.object}" for e in page.events]

        assert actions(actor="alice") == ["definition.save definition:web%2",
                                          "definition.save definition:Web_1",
                                          "login.ok user:alice"]
        # a part of the object, any case; LIKE's wildcards are the characters themselves
        assert actions(subject="WEB_") == ["definition.save definition:Web_1"]
        assert actions(subject="b%") == ["definition.save definition:web%2"]
        assert actions(subject="definition:") == actions(action="definition.save")
        assert actions(result="refused") == ["access.denied route:POST /api/v1/users",
                                             "login.failed user:alice"]
        ok = actions(result="ok")
        assert "login.ok user:alice" in ok and not any("failed" in a or "denied" in a
                                                       for a in ok)
        assert actions(result="refused", actor="bob") == [
            "access.denied route:POST /api/v1/users"]
        today = dt.datetime.now(dt.UTC).date()
        every = actions()
        assert actions(since=today.isoformat()) == every
        assert actions(until=today.isoformat()) == every  # until: the whole day
        assert actions(since=(today + dt.timedelta(days=1)).isoformat()) == []
        assert actions(until=(today - dt.timedelta(days=1)).isoformat()) == []
        # pages: newest first, ``more`` while older ones match
        first = audit_page(repo, audit_filter(actor="alice"), limit=2)
        second = audit_page(repo, audit_filter(actor="alice"), offset=2, limit=2)
        assert first.more and not second.more
        assert [e.object for e in first.events + second.events] == [
            "definition:web%2", "definition:Web_1", "user:alice"]
        assert [result_of(e) for e in audit_page(repo, audit_filter(), limit=100).events
                if e.actor != "tester"] == ["ok", "ok", "refused", "refused", "ok"]
    finally:
        repo.close()


@pytest.mark.parametrize(("given", "named"), [
    ({"result": "maybe"}, "result 'maybe'"),
    ({"since": "yesterday"}, "since 'yesterday'"),
    ({"until": "2026-13-01"}, "until '2026-13-01'"),
    ({"since": "2026-02-02", "until": "2026-02-01"}, "until is not after since"),
    ({"actor": "a b"}, "actor 'a b'"),
    ({"subject": "x\x00y"}, "subject"),
])
def test_bad_filters_name_the_value(given: dict[str, str], named: str) -> None:
    with pytest.raises(InputError, match=named.replace("'", "'?")):
        audit_filter(**given)


def test_a_time_without_a_zone_is_utc_and_until_a_date_is_its_end() -> None:
    where = audit_filter(since="2026-03-01T10:30", until="2026-03-02")
    assert where.since == dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)
    assert where.until == dt.datetime(2026, 3, 3, tzinfo=dt.UTC)
