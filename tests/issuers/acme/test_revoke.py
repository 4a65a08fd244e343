"""`certmgr revoke NAME [--reason]` through ACME on real pebble 2.10: by account and by the
certificate's key; pebble then holds it revoked (a second revocation: alreadyRevoked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from certmgr.errors import IssuanceError
from certmgr.issuers.acme import connect
from certmgr.repository import CertificateState, open_repository
from certmgr.testing.acme import Pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, issue

pytestmark = pytest.mark.acme


@pytest.mark.parametrize(("reason", "signed_by"), [("superseded", "account"),
                                                   ("keyCompromise", "certificate key")])
def test_revoked_certificate_is_revoked_in_pebble(cli: CliRunner, home: Path, pebble: Pebble,
                                                  reason: str, signed_by: str) -> None:
    add_issuer(cli, pebble)
    code, _, err = run_cli(cli, "define", "rev", "--cn", "rev.example.test", "--issuer",
                           "pebble", "--standalone-port", f"127.0.0.1:{pebble.http_port}")
    assert code == 0, err
    code, _, err = issue(cli, "rev")
    assert code == 0, err
    code, out, err = run_cli(cli, "--json", "revoke", "rev", "--reason", reason)
    assert code == 0, err
    assert json.loads(out)["signed_by"] == signed_by
    with open_repository(None, home) as repo:
        cert = repo.get_certificate("rev", 1)
        assert cert.state is CertificateState.REVOKED
        conn = connect(repo, repo.get_issuer("pebble"))
        with pytest.raises(IssuanceError, match="alreadyRevoked"):
            conn.revoke(x509.load_pem_x509_certificate(cert.cert_pem.encode()), 0)
    code, out, _ = run_cli(cli, "--json", "list")
    # a revoked version is no longer current: the definition waits for a new issue
    assert json.loads(out)["certificates"][0]["status"] == "none"


def test_bad_reason_exit_2(cli: CliRunner, home: Path) -> None:
    code, _, err = run_cli(cli, "revoke", "x", "--reason", "because")
    assert code == 2 and "--reason 'because'" in err
