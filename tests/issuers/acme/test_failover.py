"""Failover over several ACME issuers: when the first CA is stopped, the second issues;
the event is recorded (audit) and shown in the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Named, Pebble, run_pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, issue

pytestmark = pytest.mark.acme


def test_second_issuer_issues_when_the_first_is_stopped(
        cli: CliRunner, home: Path, pebble: Pebble, named: Named, tmp_path: Path) -> None:
    with run_pebble(tmp_path / "first", named.server) as first:
        add_issuer(cli, first, "first")
    # `first` is stopped now
    add_issuer(cli, pebble, "second")
    code, _, err = run_cli(cli, "define", "fo", "--cn", "fo.example.test", "--issuer",
                           "first,second", "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    code, results, err = issue(cli, "fo")
    assert code == 0, err
    result = results[0]
    assert result["status"] == "issued" and result["issuer"] == "second"
    failover = result["failover"]
    assert isinstance(failover, list) and "issuer first" in failover[0]
    assert "cannot reach the CA" in failover[0]
    with open_repository(None, home) as repo:
        cert = repo.current_certificate("fo")
        assert cert is not None and cert.issuer == "second"
        events = repo.list_audit(action="acme.failover")
        assert [(e.detail["from"], e.detail["to"]) for e in events] == [("first", "second")]


def test_all_issuers_failing_is_one_failed_result_naming_each(
        cli: CliRunner, home: Path, pebble: Pebble, named: Named, tmp_path: Path) -> None:
    with run_pebble(tmp_path / "a", named.server) as a:
        add_issuer(cli, a, "a")
    with run_pebble(tmp_path / "b", named.server) as b:
        add_issuer(cli, b, "b")
    code, _, err = run_cli(cli, "define", "x", "--cn", "x.example.test", "--issuer", "a,b",
                           "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    code, _, err = issue(cli, "x")
    assert code == 1
    assert "issuer a" in err and "issuer b" in err and len(err.strip().splitlines()) == 1


def test_monitor_announces_a_failover_on_renewal(
        cli: CliRunner, home: Path, pebble: Pebble, named: Named, tmp_path: Path) -> None:
    """The monitor renews through the second issuer while the first is down, and the
    failover goes out as an `issuer-failover` notice naming the first issuer's failure."""
    import datetime as dt
    from dataclasses import replace

    from certmgr.testing.notify_servers import WebhookReceiver

    with run_pebble(tmp_path / "first", named.server) as first:
        add_issuer(cli, first, "first")
    add_issuer(cli, pebble, "second")
    code, _, err = run_cli(cli, "define", "mf", "--cn", "mf.example.test", "--issuer",
                           "first,second", "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    assert issue(cli, "mf")[0] == 0
    with open_repository(None, home) as repo:
        v1 = repo.current_certificate("mf")
        assert v1 is not None
        now = dt.datetime.now(dt.UTC)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        pebble.set_renewal_window(v1.cert_pem, (now - dt.timedelta(hours=2)).strftime(stamp),
                                  (now - dt.timedelta(hours=1)).strftime(stamp))
        d = repo.get_definition("mf")
        state = {**d.data["acme_state"],
                 "next_check": (now - dt.timedelta(seconds=1)).strftime(stamp)}
        repo.save_definition(replace(d, data={**d.data, "acme_state": state}))
    with WebhookReceiver() as hook:
        (home / "monitor.toml").write_text(
            f"[[notify.webhook]]\nname = \"test\"\nurl = \"{hook.url}\"\n")
        code, out, err = run_cli(cli, "monitor", "--once", "--json")
        posts = list(hook.posts)
    renewals = json.loads(out)["renewals"]
    assert [(r["definition"], r["status"]) for r in renewals] == [("mf", "renewed")], err
    assert "issuer first" in renewals[0]["failover"][0]
    notices = [p for p in posts if p["event"] == "issuer-failover"]
    assert len(notices) == 1, posts
    assert "issuer first" in notices[0]["message"] and notices[0]["state"] == "event"
