"""`certmgr issuer add --root-cert FILE`: the CA's roots kept in the issuer record (deploy
trusts them instead of the system store), checked before anything is sent or stored."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from certmgr.repository import open_repository
from certmgr.testing.acme import Pebble
from tests.conftest import run_cli

# Refused before the CA is asked: nothing listens here, nothing is sent.
UNUSED = "https://127.0.0.1:9/dir"


def _cert(path: Path, cn: str, *, ca: bool, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey]
          | None = None) -> tuple[x509.Name, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer_name, issuer_key = issuer or (name, key)
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return name, key


def _add(cli: CliRunner, *extra: str) -> tuple[int, str, str]:
    return run_cli(cli, "--json", "issuer", "add", "ca", "--acme", UNUSED, "--agree-tos",
                   *extra)


def test_bad_roots_refused_with_exit_2_and_nothing_stored(cli: CliRunner, home: Path,
                                                          tmp_path: Path) -> None:
    root = _cert(tmp_path / "root.pem", "Test Root", ca=True)
    _cert(tmp_path / "inter.pem", "Test Intermediate", ca=True, issuer=root)
    _cert(tmp_path / "leaf.pem", "leaf.example.com", ca=False)
    (tmp_path / "text.pem").write_text("not a certificate\n")
    os.mkfifo(tmp_path / "fifo")
    cases = {
        "inter.pem": "CN=Test Intermediate is not self-signed",
        "leaf.pem": "CN=leaf.example.com is not a CA certificate (no CA:TRUE)",
        "text.pem": "no PEM certificate in it",
        "fifo": "not a regular file",
        "missing.pem": "missing.pem",
    }
    for name, message in cases.items():
        code, out, err = _add(cli, "--root-cert", str(tmp_path / "root.pem"),
                              "--root-cert", str(tmp_path / name))
        assert code == 2, (name, out, err)
        assert message in err and f"--root-cert {tmp_path / name}" in err, (name, err)
        assert len(err.strip().splitlines()) == 1, err
    code, out, _ = run_cli(cli, "--json", "issuer", "list")
    assert code == 0 and json.loads(out)["issuers"] == []


@pytest.mark.acme
def test_root_kept_in_the_record_and_shown(cli: CliRunner, home: Path, pebble: Pebble,
                                           pebble_root: Path) -> None:
    code, out, err = run_cli(cli, "--json", "issuer", "add", "pebble", "--acme",
                             pebble.directory, "--ca-bundle", str(pebble.ca_bundle),
                             "--agree-tos", "--root-cert", str(pebble_root),
                             "--root-cert", str(pebble_root))
    assert code == 0, err
    cert = x509.load_pem_x509_certificate(pebble_root.read_bytes())
    shown = [f"{cert.subject.rfc4514_string()} sha256:{cert.fingerprint(hashes.SHA256()).hex()}"]
    assert json.loads(out)["roots"] == shown  # the same root twice is kept once
    with open_repository(None, home) as repo:
        stored = repo.get_issuer("pebble").certificates_pem
    assert x509.load_pem_x509_certificates(stored.encode()) == [cert]
    code, out, err = run_cli(cli, "--json", "issuer", "show", "pebble")
    assert code == 0, err
    assert json.loads(out)["roots"] == shown
    code, out, err = run_cli(cli, "issuer", "show", "pebble")
    assert code == 0 and f"roots              {shown[0]}" in out, out
