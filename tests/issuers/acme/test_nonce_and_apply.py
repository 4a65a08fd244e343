"""badNonce answers retried (pebble rejecting 30% of nonces), and the ACME keys in
`apply FILE.toml` and `definitions edit`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.testing.acme import Named, Pebble, run_pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, issue

pytestmark = pytest.mark.acme


def test_bad_nonces_are_retried(cli: CliRunner, home: Path, named: Named,
                                tmp_path: Path) -> None:
    with run_pebble(tmp_path / "p", named.server, nonce_reject=30) as picky:
        add_issuer(cli, picky, "picky")
        for n in range(4):
            code, _, err = run_cli(cli, "define", f"n{n}", "--cn", f"n{n}.example.test",
                                   "--issuer", "picky", "--standalone-port",
                                   f"127.0.0.1:{picky.http_port}")
            assert code == 0, err
        code, results, err = issue(cli, "--all")
        assert code == 0, err
        assert [r["status"] for r in results] == ["issued"] * 4
        # ~40 signed requests at 30% rejection: the library's single retry alone fails one
        # of them with ~97% probability; certmgr retries badNonce up to 4 times per call.
        assert "Configured to reject 30% of good nonces" in picky.log_text()


def test_apply_toml_with_acme_keys_is_idempotent(cli: CliRunner, home: Path, pebble: Pebble,
                                                 named: Named, tmp_path: Path) -> None:
    add_issuer(cli, pebble)
    toml = tmp_path / "defs.toml"
    toml.write_text(f'''
[definitions."t.example.test"]
issuer = "pebble"
challenge = "dns-01"
dns_server = "{named.server}"
tsig_key = "{named.tsig_key_file}"
profile = "shortlived"

[definitions."h.example.test"]
issuer = "pebble"
standalone_port = "127.0.0.1:{pebble.http_port}"
''')
    code, out, err = run_cli(cli, "--json", "apply", str(toml))
    assert code == 0, err
    assert [d["status"] for d in json.loads(out)["definitions"]] == ["created", "created"]
    code, out, err = run_cli(cli, "--json", "apply", str(toml))
    assert code == 0, err
    assert [d["status"] for d in json.loads(out)["definitions"]] == ["unchanged"] * 2
    code, out, err = run_cli(cli, "--json", "definitions", "show", "t.example.test")
    shown = json.loads(out)
    assert shown["acme"]["challenge"] == "dns-01" and shown["acme"]["tsig_key"] == "stored"
    assert shown["validity"] is None and shown["renew_before"] is None
    code, results, err = issue(cli, "--all")
    assert code == 0, err
    assert {r["profile"] for r in results} == {"shortlived", None}


def test_definitions_edit_acme_keys(cli: CliRunner, home: Path, pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "e", "--cn", "e.example.test", "--issuer", "pebble",
                           "--standalone-port", "8080")
    assert code == 0, err
    code, out, err = run_cli(cli, "--json", "definitions", "edit", "e", "--webroot",
                             "/var/www/html", "--profile", "default")
    assert code == 0, err
    acme = json.loads(out)["acme"]
    assert acme["webroot"] == "/var/www/html" and acme["standalone_port"] is None
    assert acme["profile"] == "default"
    code, _, err = run_cli(cli, "definitions", "edit", "e", "--san", "*.example.test")
    assert code == 2 and "wildcard" in err
    code, _, err = run_cli(cli, "definitions", "edit", "e", "--standalone-port", "70000")
    assert code == 2 and "1 to 65535" in err
    code, _, err = run_cli(cli, "definitions", "edit", "e", "--webroot", "../etc")
    assert code == 2 and "absolute path" in err
