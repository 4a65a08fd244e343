"""ARI (RFC 9773) and profiles on real pebble 2.10: the window stored, a renewal order
sending `replaces` that pebble accepts (and refuses a second time: alreadyReplaced), the
fallback schedule with --no-ari, `list --json` columns."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from certmgr.app.certificates import list_certificates
from certmgr.errors import IssuanceError
from certmgr.issuers.acme import connect
from certmgr.issuers.acme_ari import ari_cert_id
from certmgr.issuers.schedule import RenewalState
from certmgr.pki import KeyType, build_csr, csr_pem, generate_key
from certmgr.repository import open_repository
from certmgr.testing.acme import Pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, issue

pytestmark = pytest.mark.acme


def _define(cli: CliRunner, pebble: Pebble, name: str, *extra: str) -> None:
    code, _, err = run_cli(cli, "define", name, "--cn", f"{name}.example.test", "--issuer",
                           "pebble", "--standalone-port", f"127.0.0.1:{pebble.http_port}",
                           *extra)
    assert code == 0, err


def test_renewal_sends_replaces_and_pebble_accepts_it(cli: CliRunner, home: Path,
                                                      pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    _define(cli, pebble, "ren", "--profile", "default")
    code, first, err = issue(cli, "ren")
    assert code == 0, err
    assert first[0]["ari_window"], first  # renewalInfo fetched and stored
    with open_repository(None, home) as repo:
        v1 = repo.current_certificate("ren")
        assert v1 is not None
        v1_id = ari_cert_id(x509.load_pem_x509_certificate(v1.cert_pem.encode()))
    code, second, err = issue(cli, "ren")
    assert code == 0, err
    assert second[0]["status"] == "issued" and second[0]["version"] == 2
    assert second[0]["replaces"] == v1_id
    assert "is a replacement of" in pebble.log_text()  # pebble's own record of `replaces`
    # pebble recorded the replacement: replacing v1 once more is refused as alreadyReplaced
    with open_repository(None, home) as repo:
        conn = connect(repo, repo.get_issuer("pebble"))
        key = generate_key(KeyType.parse("ec256"))
        csr = build_csr(key, ("ren.example.test",), "ren.example.test")
        with pytest.raises(IssuanceError, match="alreadyReplaced"):
            conn.new_order(csr_pem(csr), [("dns", "ren.example.test")], profile="default",
                           replaces=v1_id)


def test_ari_window_and_next_renewal_in_list_json(cli: CliRunner, home: Path,
                                                  pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    _define(cli, pebble, "ari", "--profile", "default")
    code, _, err = issue(cli, "ari")
    assert code == 0, err
    code, out, err = run_cli(cli, "--json", "list")
    assert code == 0, err
    row = next(r for r in json.loads(out)["certificates"] if r["name"] == "ari")
    assert row["issuer"] == "pebble" and row["profile"] == "default"
    start = dt.datetime.fromisoformat(row["ari_window"]["start"])
    end = dt.datetime.fromisoformat(row["ari_window"]["end"])
    nxt = dt.datetime.fromisoformat(row["next_renewal"])
    assert start <= nxt <= end  # a time picked inside the CA's window
    assert row["ari_next_check"]
    assert row["status"] == "valid"


def test_no_ari_shortlived_is_due_at_half_its_lifetime(cli: CliRunner, home: Path,
                                                       pebble: Pebble) -> None:
    add_issuer(cli, pebble, "pebble", "--no-ari")
    _define(cli, pebble, "short", "--profile", "shortlived")
    code, results, err = issue(cli, "short")
    assert code == 0, err
    assert results[0]["profile"] == "shortlived" and "ari_window" not in results[0]
    with open_repository(None, home) as repo:
        cert = repo.current_certificate("short")
        assert cert is not None
        lifetime = cert.not_after - cert.not_before
        assert dt.timedelta(days=5) < lifetime < dt.timedelta(days=7)
        half = cert.not_before + lifetime / 2
        before = list_certificates(repo, now=half - dt.timedelta(minutes=5))
        after = list_certificates(repo, now=half + dt.timedelta(minutes=5))
        assert before[0].state is RenewalState.VALID
        assert after[0].state is RenewalState.RENEW
        assert before[0].to_json()["next_renewal"] == half.isoformat()


def test_explicit_renew_before_overrides_the_schedule(cli: CliRunner, home: Path,
                                                      pebble: Pebble) -> None:
    add_issuer(cli, pebble, "pebble", "--no-ari")
    _define(cli, pebble, "fixed", "--profile", "shortlived", "--renew-before", "1d")
    code, _, err = issue(cli, "fixed")
    assert code == 0, err
    with open_repository(None, home) as repo:
        cert = repo.current_certificate("fixed")
        assert cert is not None
        row = list_certificates(repo, now=cert.not_after - dt.timedelta(days=2))[0]
        assert row.state is RenewalState.VALID
        assert row.to_json()["next_renewal"] == (cert.not_after - dt.timedelta(days=1)
                                                 ).isoformat()


def test_unknown_definition_profile_refused_exit_2(cli: CliRunner, home: Path,
                                                   pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    _define(cli, pebble, "p", "--profile", "forever")
    code, _, err = run_cli(cli, "issue", "p")
    assert code == 2
    assert "profile 'forever' is not offered" in err


def test_account_key_never_printed(cli: CliRunner, home: Path, pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    with open_repository(None, home) as repo:
        ref = repo.get_issuer("pebble").keys["account"]
        der = repo.load_private_key(ref, reason="test")
    key = serialization.load_der_private_key(der, None)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = pem.splitlines()[1]
    for args in (("issuer", "show", "pebble"), ("--json", "issuer", "show", "pebble"),
                 ("--json", "issuer", "list")):
        code, out, err = run_cli(cli, *args)
        assert code == 0 and body not in out + err


def test_already_replaced_orders_again_without_replaces(cli: CliRunner, home: Path,
                                                        pebble: Pebble) -> None:
    add_issuer(cli, pebble)
    _define(cli, pebble, "twice", "--profile", "default")
    assert issue(cli, "twice")[0] == 0
    assert issue(cli, "twice")[0] == 0  # v2 replaces v1
    with open_repository(None, home) as repo:
        repo.revoke_certificate("twice", 2, reason="test: v1 is current again")
    code, results, err = issue(cli, "twice")  # replaces v1 again: pebble says alreadyReplaced
    assert code == 0, err
    assert results[0]["status"] == "issued" and results[0]["replaces"] is None
