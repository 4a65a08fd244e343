"""rateLimited (RFC 8555 6.6) through a small proxy in front of real pebble 2.10: a short
Retry-After is waited out and the order retried after it, not before; a long one is
recorded and no order goes to that issuer before its time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Pebble, run_rate_limit_proxy
from tests.conftest import run_cli
from tests.issuers.acme.helpers import issue

pytestmark = pytest.mark.acme


def _setup(cli: CliRunner, directory: str, pebble: Pebble) -> None:
    code, _, err = run_cli(cli, "issuer", "add", "rl", "--acme", directory, "--ca-bundle",
                           str(pebble.ca_bundle), "--agree-tos")
    assert code == 0, err
    code, _, err = run_cli(cli, "define", "rl", "--cn", "rl.example.test", "--issuer", "rl",
                           "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err


def test_short_rate_limit_is_retried_after_its_time(cli: CliRunner, home: Path,
                                                    pebble: Pebble, tmp_path: Path) -> None:
    with run_rate_limit_proxy(pebble, tmp_path, limit_count=1, retry_after=1) as proxy:
        _setup(cli, proxy.directory, pebble)
        code, results, err = issue(cli, "rl")
        assert code == 0, err
        assert results[0]["status"] == "issued"
        assert len(proxy.new_orders) == 2
        assert proxy.new_orders[1] - proxy.new_orders[0] >= 1.0  # not before Retry-After


def test_long_rate_limit_is_recorded_and_not_retried_before(
        cli: CliRunner, home: Path, pebble: Pebble, tmp_path: Path) -> None:
    with run_rate_limit_proxy(pebble, tmp_path, limit_count=5, retry_after=3600) as proxy:
        _setup(cli, proxy.directory, pebble)
        code, _, err = issue(cli, "rl")
        assert code == 1
        assert "rateLimited: too many new orders" in err and "retry after" in err
        assert len(proxy.new_orders) == 1
        with open_repository(None, home) as repo:
            until = repo.get_definition("rl").data["acme_limits"]["rl"]
        code, _, err = issue(cli, "rl")
        assert code == 1 and f"rate-limited rl until {until}" in err
        time.sleep(0.1)
        assert len(proxy.new_orders) == 1  # the CA was not asked again
