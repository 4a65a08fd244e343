"""`certmgr issuer add|list|show|remove` against a real pebble 2.10."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Named, Pebble, run_pebble
from tests.conftest import run_cli

pytestmark = pytest.mark.acme


def add(cli: CliRunner, pebble: Pebble, name: str = "pebble", *extra: str
        ) -> tuple[int, str, str]:
    return run_cli(cli, "--json", "issuer", "add", name, "--acme", pebble.directory,
                   "--ca-bundle", str(pebble.ca_bundle), "--contact", "admin@example.test",
                   *extra)


def test_add_registers_account_key_encrypted_and_tos_recorded(
        cli: CliRunner, home: Path, pebble: Pebble) -> None:
    code, out, err = add(cli, pebble, "pebble", "--agree-tos", "--profile", "shortlived")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "acme"
    assert data["account_url"].startswith("https://127.0.0.1:")
    assert data["tos_agreed"] is True and data["tos_agreed_at"]
    assert data["contacts"] == ["admin@example.test"]
    assert set(data["profiles"]) == {"default", "shortlived"}
    assert "key" not in out.lower().replace("eab_kid", "")
    with open_repository(None, home) as repo:
        record = repo.get_issuer("pebble")
        info = repo.private_key_info(record.keys["account"])
        assert info.kind == "issuer" and info.algorithm
        assert b"PRIVATE" not in (home / "certmgr.db").read_bytes()

    code, out, err = run_cli(cli, "--json", "issuer", "show", "pebble")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["account_url"] == data["account_url"]
    assert shown["profiles"]["shortlived"]
    code, out, _ = run_cli(cli, "--json", "issuer", "list")
    assert [i["name"] for i in json.loads(out)["issuers"]] == ["pebble"]
    code, out, err = run_cli(cli, "issuer", "remove", "pebble")
    assert code == 0, err
    code, out, err = run_cli(cli, "issuer", "show", "pebble")
    assert code == 2 and "no issuer 'pebble'" in err


def test_unknown_profile_refused_nothing_stored(cli: CliRunner, home: Path,
                                                pebble: Pebble) -> None:
    code, _, err = add(cli, pebble, "p2", "--agree-tos", "--profile", "forever")
    assert code == 2
    assert "profile 'forever' is not offered by the CA" in err and "shortlived" in err
    code, out, _ = run_cli(cli, "--json", "issuer", "list")
    assert json.loads(out)["issuers"] == []


@pytest.mark.parametrize(("args", "message"), [
    (("--acme", "ftp://x"), "is not an http(s) URL"),
    (("--acme", "https://127.0.0.1:1/dir", "--contact", "not-mail"), "not an e-mail"),
    (("--acme", "https://127.0.0.1:1/dir", "--eab-kid", "kid-1"), "go together"),
    (("--acme", "https://127.0.0.1:1/dir", "--profile", "a b"), "profile name"),
])
def test_bad_input_exit_2_one_line(cli: CliRunner, home: Path, args: tuple[str, ...],
                                   message: str) -> None:
    code, _, err = run_cli(cli, "issuer", "add", "x", *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1


def test_unreachable_ca_is_one_line_not_a_traceback(cli: CliRunner, home: Path,
                                                    pebble: Pebble) -> None:
    from certmgr.testing.acme import free_port

    code, _, err = run_cli(cli, "issuer", "add", "down", "--acme",
                           f"https://127.0.0.1:{free_port()}/dir", "--agree-tos")
    assert code == 1, err
    assert "cannot reach the CA" in err and len(err.strip().splitlines()) == 1


EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"


def test_external_account_binding(cli: CliRunner, home: Path, named: Named,
                                  tmp_path: Path) -> None:
    with run_pebble(tmp_path / "eab", named.server, eab_keys={"kid-1": EAB_KEY}) as ca:
        base = ("issuer", "add", "eab", "--acme", ca.directory, "--ca-bundle",
                str(ca.ca_bundle), "--agree-tos")
        code, _, err = run_cli(cli, *base)
        assert code == 2 and "External Account Binding" in err
        key_file = tmp_path / "hmac"
        key_file.write_text(EAB_KEY + "\n")
        wrong = tmp_path / "wrong"
        wrong.write_text("b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH")
        code, _, err = run_cli(cli, *base, "--eab-kid", "kid-1", "--eab-hmac-key-file",
                               str(wrong))
        assert code == 1 and "newAccount" in err
        code, out, err = run_cli(cli, "--json", *base, "--eab-kid", "kid-1",
                                 "--eab-hmac-key-file", str(key_file))
        assert code == 0, err
        assert json.loads(out)["eab_kid"] == "kid-1"
        assert EAB_KEY not in out and EAB_KEY.encode() not in (home / "certmgr.db").read_bytes()
