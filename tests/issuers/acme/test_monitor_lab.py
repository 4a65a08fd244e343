"""`monitor --once` redeploys an ACME renewal: a certificate for the lab Apache's own
name (www.example.com, validated by http-01 through that Apache's port 80) is deployed;
after pebble's set-renewal-info moves its ARI window into the past, one pass renews it
(sending `replaces`), deploys it through the deploy engine, and port 443 then serves the
new certificate (proven by probe)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.hosts.lab import open_lab_host
from certmgr.lab import load_state
from certmgr.programs import ServiceKind
from certmgr.repository import open_repository
from certmgr.testing.acme import Named, Pebble, run_named, run_pebble
from tests.conftest import run_cli
from tests.deploy.lab_support import served
from tests.issuers.acme.helpers import add_issuer, issue
from tests.issuers.acme.test_http01_lab import lab_with

pytestmark = [pytest.mark.lab, pytest.mark.acme]

SLOT = "lab:lab1/apache2:www.example.com"


@pytest.fixture
def named2(tmp_path_factory: pytest.TempPathFactory, named: Named) -> Iterator[Named]:
    """A BIND 9 also primary for example.com, the lab programs' names (``named``: the
    session's, only to have the same skip-or-fail check)."""
    with run_named(tmp_path_factory.mktemp("named2"), ("example.test", "example.com")) as n:
        yield n


@pytest.fixture
def pebble80(tmp_path_factory: pytest.TempPathFactory, named2: Named) -> Iterator[Pebble]:
    with run_pebble(tmp_path_factory.mktemp("pebble80"), named2.server, http_port=80) as p:
        yield p


@pytest.fixture
def apache_lab(cli: CliRunner, home: Path) -> Iterator[Path]:
    yield from lab_with(cli, home, "apache2")


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_monitor_renews_and_redeploys_when_the_ca_moves_the_window(
        cli: CliRunner, home: Path, apache_lab: Path, named2: Named, pebble80: Pebble,
        tmp_path: Path) -> None:
    pebble = pebble80
    host = open_lab_host(apache_lab, "lab1")
    state = load_state(apache_lab)
    assert state is not None
    named2.set_address("www.example.com", state.hosts[0].address)
    root = tmp_path / "pebble-root.pem"  # pebble's root: the one the chain ends at
    root.write_bytes(pebble.root_pem())
    add_issuer(cli, pebble, "pebble", "--root-cert", str(root))
    code, _, err = run_cli(cli, "define", "web", "--cn", "www.example.com", "--issuer",
                           "pebble", "--challenge", "http-01", "--target", SLOT)
    assert code == 0, err
    code, results, err = issue(cli, "web")
    assert code == 0, (results, err)
    code, out, err = run_cli(cli, "deploy", "web", "--yes", "--json")
    assert code == 0, json.loads(out)["deployments"][0].get("reason")
    assert json.loads(out)["deployments"][0]["outcome"] == "verified"
    with open_repository(None, home) as repo:
        v1 = repo.current_certificate("web")
        assert v1 is not None
        assert set(served(host, ServiceKind.APACHE2).values()) == {v1.sha256}
        now = dt.datetime.now(dt.UTC)
        pebble.set_renewal_window(v1.cert_pem, _iso(now - dt.timedelta(hours=2)),
                                  _iso(now - dt.timedelta(hours=1)))
        # the stored ARI answer said when to ask again: that time has come
        d = repo.get_definition("web")
        state = {**d.data["acme_state"], "next_check": _iso(now - dt.timedelta(seconds=1))}
        repo.save_definition(replace(d, data={**d.data, "acme_state": state}))

    code, out, err = run_cli(cli, "monitor", "--once", "--json")
    report = json.loads(out)
    renewed = [r for r in report["renewals"] if r["status"] == "renewed"]
    assert [r["definition"] for r in renewed] == ["web"], (report, err)
    with open_repository(None, home) as repo:
        v2 = repo.current_certificate("web")
        assert v2 is not None and v2.version == 2 and v2.serial != v1.serial
        assert repo.get_definition("web").data["acme_state"].get("replaced")
    # the lab's port serves the renewed certificate: the monitor deployed it
    assert set(served(host, ServiceKind.APACHE2).values()) == {v2.sha256}
    assert "is a replacement of" in pebble.log_text()
