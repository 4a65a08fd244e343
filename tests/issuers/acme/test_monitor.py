"""`certmgr monitor --once` on ACME certificates: after pebble's set-renewal-info moves a
certificate's ARI window into the past, the next check picks it up and the monitor renews
it, sending `replaces`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, issue

pytestmark = pytest.mark.acme


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_monitor_renews_when_the_ca_moves_the_window(cli: CliRunner, home: Path,
                                                     pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "mon", "--cn", "mon.example.test", "--issuer",
                           "pebble", "--standalone-port", f"127.0.0.1:{pebble.http_port}",
                           "--profile", "default")
    assert code == 0, err
    code, _, err = issue(cli, "mon")
    assert code == 0, err
    # nothing due: one pass renews nothing
    code, out, err = run_cli(cli, "monitor", "--once", "--json")
    assert code in (0, 1), err
    with open_repository(None, home) as repo:
        v1 = repo.current_certificate("mon")
        assert v1 is not None and v1.version == 1
        now = dt.datetime.now(dt.UTC)
        pebble.set_renewal_window(v1.cert_pem, _iso(now - dt.timedelta(hours=2)),
                                  _iso(now - dt.timedelta(hours=1)),
                                  "https://ca.example.test/why")
        # the stored ARI answer said "ask again in 6 h": that time has come
        d = repo.get_definition("mon")
        state = {**d.data["acme_state"], "next_check": _iso(now - dt.timedelta(seconds=1))}
        repo.save_definition(replace(d, data={**d.data, "acme_state": state}))
    code, out, err = run_cli(cli, "monitor", "--once", "--json")
    report = json.loads(out)
    renewals = report["renewals"]
    assert [r["definition"] for r in renewals if r["status"] == "renewed"] == ["mon"], report
    with open_repository(None, home) as repo:
        v2 = repo.current_certificate("mon")
        assert v2 is not None and v2.version == 2
        state = repo.get_definition("mon").data["acme_state"]
        assert state["sha256"] == v2.sha256 and state.get("replaced")
    assert "is a replacement of" in pebble.log_text()
