"""certmgr deployments: the history of every slot that has deployments."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from certmgr.repository import DefinitionRecord, DeploymentState, open_repository
from tests.conftest import run_cli
from tests.repository.conftest import make_cert

KEPT = "local/apache2:_default_"
DROPPED = "lab:lab1/nginx:www"  # the definition stopped targeting it after two deployments


def _history(home: Path) -> dict[str, list[int]]:
    """Three deployments to KEPT, two to DROPPED (the newest rolled back); ids per target."""
    repo = open_repository(None, home)
    try:
        definition = DefinitionRecord(name="www", cn="www.example.org",
                                      sans=("www.example.org",), targets=(KEPT, DROPPED))
        repo.save_definition(definition)
        pem, key = make_cert()
        repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
        ids: dict[str, list[int]] = {KEPT: [], DROPPED: []}
        for target in (KEPT, DROPPED, KEPT, DROPPED, KEPT):
            dep = repo.create_deployment("www", 1, target)
            ids[target].append(dep.id)
            repo.update_deployment(dep.id, DeploymentState.VERIFIED)
        repo.update_deployment(ids[DROPPED][-1], DeploymentState.ROLLED_BACK,
                               reason="handshake failed")
        repo.save_definition(replace(definition, targets=(KEPT,)))
        return ids
    finally:
        repo.close()


def test_every_slot_with_deployments_is_listed(cli: CliRunner, home: Path) -> None:
    ids = _history(home)
    code, out, err = run_cli(cli, "deployments", "--json")
    assert code == 0, err
    rows = json.loads(out)["deployments"]
    assert [(r["id"], f"{r['host']}/{r['slot_id']}") for r in rows] == sorted(
        ((i, t) for t, got in ids.items() for i in got), reverse=True)
    dropped = [r for r in rows if r["host"] == "lab:lab1"]
    assert [(r["state"], r["reason"]) for r in dropped] == [
        ("rolled_back", "handshake failed"), ("verified", None)]

    code, out, err = run_cli(cli, "deployments")
    assert code == 0, err
    assert DROPPED in out and KEPT in out and "handshake failed" in out


def test_limit_is_per_slot_and_a_slot_argument_narrows(cli: CliRunner, home: Path) -> None:
    ids = _history(home)
    code, out, err = run_cli(cli, "deployments", "--limit", "1", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)["deployments"]] == sorted(
        (got[-1] for got in ids.values()), reverse=True)
    code, out, err = run_cli(cli, "deployments", DROPPED, "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)["deployments"]] == ids[DROPPED][::-1]
    code, out, err = run_cli(cli, "deployments", "apache2:_default_", "--json")
    assert code == 0, err
    assert [r["id"] for r in json.loads(out)["deployments"]] == ids[KEPT][::-1]
