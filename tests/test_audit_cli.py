"""``certmgr audit`` with the filters the console's audit page and API have (the same
use case): actor, subject, dates, result, offset; a bad value is exit 2, one line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from certmgr.repository import open_repository
from tests.conftest import run_cli


def test_audit_filters(cli: CliRunner, home: Path) -> None:
    assert run_cli(cli, "init")[0] == 0
    repo = open_repository(None, home, actor="tester")
    try:
        repo.record_event("login.failed", "user:erin", {"failed": "password"},
                          actor="anonymous")
        repo.record_event("login.ok", "user:erin", {}, actor="erin")
        repo.record_event("definition.save", "definition:Shop", {}, actor="erin")
    finally:
        repo.close()

    def listed(*args: str) -> list[str]:
        code, out, err = run_cli(cli, "audit", "--json", *args)
        assert code == 0, err
        return [f"{e['actor']} {e['action']} {e['object']}" for e in json.loads(out)]

    assert listed("--actor", "erin") == ["erin definition.save definition:Shop",
                                         "erin login.ok user:erin"]
    assert listed("--subject", "shop") == ["erin definition.save definition:Shop"]
    assert listed("--result", "refused") == ["anonymous login.failed user:erin"]
    assert listed("--actor", "erin", "--offset", "1") == ["erin login.ok user:erin"]
    assert listed("--since", "2999-01-01") == []
    assert listed("--until", "2000-01-01") == []
    code, out, err = run_cli(cli, "audit", "--since", "last week")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "since 'last week' is not an ISO date" in err
    code, _, err = run_cli(cli, "audit", "--result", "maybe")
    assert code == 2 and "result 'maybe' is not one of ok, refused" in err
