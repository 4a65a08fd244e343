"""certmgr deploy, deployments and rollback end to end on a lab host (and host add over SSH)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.hosts.lab import open_lab_host
from certmgr.lab import load_state
from certmgr.programs import ServiceKind
from certmgr.testing import skip_or_fail
from certmgr.testing.lab import lab_missing
from tests.conftest import run_cli
from tests.deploy.lab_support import served

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SLOT = "lab:lab1/apache2:www.example.com"


@pytest.fixture
def lab_dir(cli: CliRunner, home: Path) -> Iterator[Path]:
    reason = lab_missing()
    if reason is not None:
        skip_or_fail(reason)
    path = home / "lab"
    code, _out, err = run_cli(cli, "lab", "up", "--programs", "apache2", "--dir", str(path))
    try:
        assert code == 0, err
        yield path
    finally:
        run_cli(cli, "lab", "down", "--dir", str(path))


def test_deploy_history_and_rollback_on_a_lab_host(cli: CliRunner, lab_dir: Path,
                                                   tmp_path: Path) -> None:
    host = open_lab_host(lab_dir, "lab1")
    assert run_cli(cli, "ca", "init")[0] == 0
    assert run_cli(cli, "define", "www.example.com", "--target", SLOT)[0] == 0
    assert run_cli(cli, "issue", "www.example.com")[0] == 0
    code, out, err = run_cli(cli, "deploy", "www.example.com", "--yes", "--json")
    assert code == 0, err
    (first,) = json.loads(out)["deployments"]
    assert first["outcome"] == "verified"
    v1 = first["plan"]["sha256"]
    assert set(served(host, ServiceKind.APACHE2).values()) == {v1}

    assert run_cli(cli, "issue", "www.example.com")[0] == 0
    code, out, err = run_cli(cli, "deploy", "--all", "--host", "lab:lab1", "--yes", "--json")
    assert code == 0, err
    v2 = json.loads(out)["deployments"][0]["plan"]["sha256"]
    assert v2 != v1 and set(served(host, ServiceKind.APACHE2).values()) == {v2}

    code, out, _err = run_cli(cli, "deployments", SLOT, "--json")
    history = json.loads(out)["deployments"]
    assert [(d["version"], d["state"]) for d in history] == [(2, "verified"), (1, "verified")]
    assert {b["path"] for b in history[0]["backup"]} == {
        "/etc/apache2/ssl/certs/www.example.com.crt",
        "/etc/apache2/ssl/private/www.example.com.key"}

    code, out, err = run_cli(cli, "rollback", SLOT, "--yes")
    assert code == 0, err
    assert set(served(host, ServiceKind.APACHE2).values()) == {v1}
    code, out, _err = run_cli(cli, "deployments", "--json")
    assert json.loads(out)["deployments"][0]["version"] == 1

    state = load_state(lab_dir)
    assert state is not None
    url = f"ssh://root@{state.hosts[0].address}"
    assert run_cli(cli, "host", "remove", url)[0] == 0  # the lab registered it; add it again
    code, _out, err = run_cli(cli, "host", "add", url, "--key", state.ssh_key,
                              "--known-hosts", state.known_hosts)
    assert code == 0, err
    code, out, err = run_cli(cli, "deploy", "www.example.com", "--dry-run", "--json")
    assert code == 0, err
    assert json.loads(out)["deployments"][0]["outcome"] == "planned"
