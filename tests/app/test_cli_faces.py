"""The CLI as a face: batch --json in the shared per-item shape, and no rule in cli/."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

import certmgr.cli
from tests.conftest import run_cli


def test_issue_json_gives_one_shared_item_per_definition_in_order(cli: CliRunner,
                                                                 home: Path) -> None:
    assert run_cli(cli, "ca", "init")[0] == 0
    for name, issuer in (("a.example.com", "builtin"), ("b.example.com", "nosuch"),
                         ("c.example.com", "builtin")):
        code, _out, err = run_cli(cli, "define", name, "--issuer", issuer)
        assert code == 0, err
    code, out, err = run_cli(cli, "issue", "--all", "--json")
    assert code == 1, err
    results = json.loads(out)["results"]
    # Failures stay in their place (they used to come last) and carry the shared fields.
    assert [(r["item"], r["status"], r["ok"]) for r in results] == [
        ("a.example.com", "issued", True), ("b.example.com", "failed", False),
        ("c.example.com", "issued", True)]
    failed = results[1]
    assert failed["definition"] == "b.example.com" and "nosuch" in failed["reason"]
    assert failed["message"] == failed["reason"]
    assert results[0]["version"] == 1 and results[0]["serial"]
    code, _out, err = run_cli(cli, "issue", "a.example.com", "b.example.com")
    assert code == 1 and "failed b.example.com:" in err


def test_the_cli_makes_no_trust_decision() -> None:
    """Outside `ca show/export`, no command collects CA certificates or loads trust, and
    none judges expiry itself (the one renewal-state function does)."""
    cli_dir = Path(certmgr.cli.__file__).parent
    banned = re.compile(r"load_trust|ca_certificates|certificates_pem|list_issuers|"
                        r"is_self_issued|pki\.trust|app\.trust|renew_before\s*[<>]|"
                        r"renew_before\.days|not_after\s*-|timedelta\(days")
    offenders = {path.name: banned.findall(path.read_text())
                 for path in cli_dir.glob("*.py") if path.name != "ca_commands.py"}
    assert {name: found for name, found in offenders.items() if found} == {}
