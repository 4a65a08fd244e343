"""Shared steps of the acme tests: an issuer on the session's pebble, openssl verify."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from certmgr.testing.acme import Pebble
from tests.conftest import run_cli


def add_issuer(cli: CliRunner, pebble: Pebble, name: str = "pebble", *extra: str) -> None:
    code, _, err = run_cli(cli, "issuer", "add", name, "--acme", pebble.directory,
                           "--ca-bundle", str(pebble.ca_bundle), "--agree-tos", *extra)
    assert code == 0, err


def issue(cli: CliRunner, *args: str) -> tuple[int, list[dict[str, object]], str]:
    code, out, err = run_cli(cli, "--json", "issue", *args)
    return code, (json.loads(out)["results"] if out.strip() else []), err


def export_and_verify(cli: CliRunner, name: str, root: Path, out: Path) -> str:
    """Export the current certificate and `openssl verify` it against pebble's root."""
    code, _, err = run_cli(cli, "export", name, "--format", "pem", "--out", str(out))
    assert code == 0, err
    cert, chain = out / f"{name}.crt", out / f"{name}-chain.crt"
    args = ["openssl", "verify", "-CAfile", str(root), "-untrusted", str(chain), str(cert)]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
