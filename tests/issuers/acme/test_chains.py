"""Chains: the default one, or the alternate (`Link: rel="alternate"`) ending at the root
named by `issuer add --preferred-chain`, on pebble 2.10 with an alternate root."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from certmgr.testing.acme import Named, run_pebble
from tests.conftest import run_cli
from tests.issuers.acme.helpers import add_issuer, export_and_verify, issue

pytestmark = pytest.mark.acme


def _cn(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    return str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value)


@pytest.mark.parametrize("preferred", [None, 1])
def test_preferred_chain_by_root_name(cli: CliRunner, home: Path, named: Named,
                                      tmp_path: Path, preferred: int | None) -> None:
    with run_pebble(tmp_path / "p", named.server, alternate_roots=1) as pebble:
        roots = [tmp_path / "root0.pem", tmp_path / "root1.pem"]
        for index, path in enumerate(roots):
            path.write_bytes(pebble.root_pem(index))
        assert _cn(roots[0].read_bytes()) != _cn(roots[1].read_bytes())
        extra = ("--preferred-chain", _cn(roots[1].read_bytes())) if preferred else ()
        add_issuer(cli, pebble, "alt", *extra)
        code, _, err = run_cli(cli, "define", "ch", "--cn", "ch.example.test", "--issuer",
                               "alt", "--standalone-port", f"127.0.0.1:{pebble.http_port}")
        assert code == 0, err
        code, _, err = issue(cli, "ch")
        assert code == 0, err
        wanted, other = (roots[1], roots[0]) if preferred else (roots[0], roots[1])
        export_and_verify(cli, "ch", wanted, tmp_path / "out")
        out = tmp_path / "out"
        refused = subprocess.run(["openssl", "verify", "-CAfile", str(other), "-untrusted",
                                  str(out / "ch-chain.crt"), str(out / "ch.crt")],
                                 capture_output=True, text=True, check=False)
        assert refused.returncode != 0  # the stored chain is the one asked for
