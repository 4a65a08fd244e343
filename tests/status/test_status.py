"""``certmgr status`` over a real repository: expiry, deployments, observations, problems first."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from certmgr.app.status import build_status
from certmgr.pki.build import issue_server, self_signed_root, subject_name
from certmgr.pki.keys import KeyType, generate_key
from certmgr.repository import (
    DefinitionRecord,
    DeploymentState,
    ObservationRecord,
    open_repository,
)
from tests.conftest import run_cli

NOW = dt.datetime.now(dt.UTC)


def _cert_pem(names: list[str], validity: dt.timedelta) -> str:
    ca_key = generate_key(KeyType.EC256)
    ca = self_signed_root(ca_key, subject_name("Status Test CA"), dt.timedelta(days=3650))
    leaf_key = generate_key(KeyType.EC256)
    leaf = issue_server(ca, ca_key, leaf_key.public_key(), names, validity)
    return leaf.public_bytes(serialization.Encoding.PEM).decode()


def _fill(home: Path) -> None:
    with open_repository(None, home) as repo:
        for name, validity, targets in (
            ("ok.example.com", dt.timedelta(days=300), ("local/apache2:ok.example.com",)),
            ("soon.example.com", dt.timedelta(days=5), ("local/postfix",)),
            ("never.example.com", dt.timedelta(days=90), ()),
        ):
            repo.save_definition(DefinitionRecord(name=name, cn=name, sans=(name,),
                                                  validity=dt.timedelta(days=397),
                                                  renew_before=dt.timedelta(days=30),
                                                  targets=targets))
            if name != "never.example.com":
                repo.add_certificate(name, _cert_pem([name], validity))
        ok = repo.create_deployment("ok.example.com", 1, "local/apache2:ok.example.com")
        repo.update_deployment(ok.id, DeploymentState.VERIFIED)
        bad = repo.create_deployment("soon.example.com", 1, "local/postfix")
        repo.update_deployment(bad.id, DeploymentState.ROLLED_BACK,
                               reason="verify: 127.0.0.1:25 still serves the old certificate")
        repo.add_observation(ObservationRecord(address="127.0.0.1", port=25,
                                               tls="starttls-smtp", time=NOW, ok=False,
                                               host="local", error="TIMEOUT"))
        repo.add_observation(ObservationRecord(address="127.0.0.1", port=443, tls="direct",
                                               time=NOW, ok=True, host="local",
                                               leaf_sha256="ab" * 32))


def test_status_orders_problems_worst_first(home: Path) -> None:
    _fill(home)
    with open_repository(None, home) as repo:
        report = build_status(repo)
    codes = [(p.severity.value, p.code) for p in report.problems]
    assert set(codes[:2]) == {("error", "DEPLOY_FAILED"), ("error", "PROBE_FAILED")}
    assert all(severity == "warning" for severity, _ in codes[2:])
    assert ("warning", "EXPIRING_SOON") in codes
    assert ("warning", "NOT_ISSUED") in codes
    assert report.has_errors
    # soonest expiry first; the unissued definition last
    assert [c.definition.name for c in report.certificates] == [
        "soon.example.com", "ok.example.com", "never.example.com"]


def test_status_json_and_exit_code(home: Path, cli: CliRunner) -> None:
    _fill(home)
    code, out, _err = run_cli(cli, "status", "--json")
    assert code == 1
    data = json.loads(out)
    ok = next(c for c in data["certificates"] if c["name"] == "ok.example.com")
    assert ok["version"] == 1 and 298 <= ok["days_left"] <= 300
    assert ok["targets"] == [{"target": "local/apache2:ok.example.com", "deployed_version": 1,
                              "state": "verified", "when": ok["targets"][0]["when"],
                              "reason": None}]
    assert {e["port"] for e in data["endpoints"]} == {25, 443}
    assert data["problems"][0]["severity"] == "error"


def test_status_human_output_on_empty_repository(home: Path, cli: CliRunner) -> None:
    code, out, _err = run_cli(cli, "status")
    assert code == 0
    assert "No problems." in out
