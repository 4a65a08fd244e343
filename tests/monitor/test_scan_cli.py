"""``certmgr scan`` end to end against real servers on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from certmgr.models import TlsMode
from tests.conftest import run_cli
from tests.monitor import servers
from tests.monitor.conftest import Pki


@pytest.fixture(scope="module")
def ca_file(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    pki.ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def expired_port(pki: Pki, server_thread: servers.ServerThread) -> int:
    now = dt.datetime.now(dt.UTC)
    leaf = pki.ca.issue_cert("old.example.com", not_before=now - dt.timedelta(days=400),
                             not_after=now - dt.timedelta(days=3))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    return server_thread.serve(servers.direct(ctx), tls=ctx)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def scan_json(cli: CliRunner, *args: str) -> tuple[int, dict[str, object], str]:
    code, out, err = run_cli(cli, "scan", "--json", *args)
    return code, json.loads(out), err


def test_every_mode_scans_clean_with_the_test_ca_trusted(
        cli: CliRunner, home: Path, polite: dict[TlsMode, int], ca_file: Path,
        pki: Pki) -> None:
    targets = [f"127.0.0.1:{port}/{mode.protocol or 'tls'}" for mode, port in polite.items()]
    code, doc, err = scan_json(cli, "--ca", str(ca_file), "--no-system-trust", *targets)
    assert code == 0, (doc, err)
    results = doc["results"]
    assert isinstance(results, list) and len(results) == 6
    leaf_pem = pki.leaf.cert_chain_pems[0].bytes()
    leaf = x509.load_pem_x509_certificate(leaf_pem)
    sha = hashlib.sha256(leaf.public_bytes(ssl_encoding())).hexdigest()
    for result, target in zip(results, targets, strict=True):
        assert set(result) == {"target", "ok", "tls_version", "chain", "findings", "error"}
        assert result["target"] == target.removesuffix("/tls")
        assert result["ok"] is True and result["error"] is None
        assert result["findings"] == []
        assert result["tls_version"] in ("TLSv1.2", "TLSv1.3")
        (entry,) = result["chain"]
        assert entry["sha256"] == sha
        assert entry["sans"] == ["mail.example.com", "127.0.0.1"]
        assert entry["subject"] == leaf.subject.rfc4514_string()
        assert entry["issuer"] == leaf.issuer.rfc4514_string()
        assert entry["not_after"] == leaf.not_valid_after_utc.isoformat()
    assert not (home / "certmgr.db").exists()  # a scan never creates a repository


def ssl_encoding():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_untrusted_expired_and_misnamed_are_findings_with_target(
        cli: CliRunner, home: Path, polite: dict[TlsMode, int], expired_port: int) -> None:
    direct = f"127.0.0.1:{polite[TlsMode.DIRECT]}"
    code, doc, _ = scan_json(cli, "--no-system-trust", "--sni", "www.example.org",
                             direct, f"127.0.0.1:{expired_port}")
    assert code == 1
    first, second = doc["results"]  # type: ignore[misc]
    codes = {f["code"] for f in first["findings"]}
    # No trust anchors at all: the issuer of the leaf is nowhere to be found.
    assert codes == {"CHAIN_INCOMPLETE", "NAME_MISMATCH"}
    for finding in first["findings"]:
        assert finding["target"] == direct and "path" not in finding
        assert finding["severity"] == "error"
        assert direct in finding["message"]
    assert "EXPIRED" in {f["code"] for f in second["findings"]}


def test_failed_probe_is_a_finding_and_exit_1(cli: CliRunner, home: Path) -> None:
    target = f"127.0.0.1:{_closed_port()}/smtp"
    code, doc, _ = scan_json(cli, target)
    assert code == 1
    (result,) = doc["results"]  # type: ignore[misc]
    assert result["ok"] is False and result["chain"] == [] and result["tls_version"] is None
    assert result["error"] == "cannot connect: Connection refused"
    assert [f["code"] for f in result["findings"]] == ["CONNECTION_REFUSED"]


def test_targets_from_file_and_human_output(cli: CliRunner, home: Path, tmp_path: Path,
                                            polite: dict[TlsMode, int], ca_file: Path) -> None:
    listing = tmp_path / "targets.txt"
    listing.write_text(f"# lab\n127.0.0.1:{polite[TlsMode.STARTTLS_IMAP]}/imap\n")
    code, out, err = run_cli(cli, "scan", "--from", str(listing), "--ca", str(ca_file),
                             "--no-system-trust")
    assert code == 0, err
    assert f"127.0.0.1:{polite[TlsMode.STARTTLS_IMAP]}/imap" in out
    assert "mail.example.com" in out
    assert "1 endpoint(s): 1 answered, 0 failed" in err


def test_save_chains_writes_pem_for_import(cli: CliRunner, home: Path, tmp_path: Path,
                                           polite: dict[TlsMode, int], pki: Pki) -> None:
    outdir = tmp_path / "found"
    code, _doc, err = scan_json(cli, "--no-system-trust", "--save-chains", str(outdir),
                                f"127.0.0.1:{polite[TlsMode.DIRECT]}",
                                f"127.0.0.1:{polite[TlsMode.STARTTLS_FTP]}/ftp")
    assert code == 1  # untrusted without the CA
    (saved,) = outdir.iterdir()
    certs = x509.load_pem_x509_certificates(saved.read_bytes())
    assert certs[0] == x509.load_pem_x509_certificate(pki.leaf.cert_chain_pems[0].bytes())
    assert "certmgr import" in err


@pytest.mark.parametrize(("args", "words"), [
    ((), "no target"),
    (("127.0.0.1",), "give a port"),
    (("127.0.0.1:25/gopher",), "unknown protocol"),
    (("--ca", "/nonexistent/ca.pem", "127.0.0.1:443"), "--ca: /nonexistent/ca.pem"),
    (("--from", "/nonexistent/list", ), "--from /nonexistent/list"),
])
def test_bad_input_is_exit_2_with_one_line(cli: CliRunner, home: Path,
                                           args: tuple[str, ...], words: str) -> None:
    code, out, err = run_cli(cli, "scan", *args)
    assert code == 2
    assert out == ""
    assert words in err and len(err.strip().splitlines()) == 1


def test_import_takes_found_certificates_under_management(
        cli: CliRunner, home: Path, polite: dict[TlsMode, int], ca_file: Path) -> None:
    targets = [f"127.0.0.1:{polite[TlsMode.DIRECT]}",
               f"127.0.0.1:{polite[TlsMode.STARTTLS_POP3]}/pop3"]
    code, doc, err = scan_json(cli, "--ca", str(ca_file), "--no-system-trust", "--import",
                               *targets)
    assert code == 0, err
    leaf_sha = doc["results"][0]["chain"][0]["sha256"]  # type: ignore[index]
    # Both endpoints serve one certificate: imported once, named after its CN (one item
    # in the shared batch shape: item, status, ok, reason, then the import's own fields).
    assert doc["imported"] == [{"item": targets[0], "status": "imported", "ok": True,
                                "reason": "", "target": targets[0], "sha256": leaf_sha,
                                "definition": "mail.example.com"}]
    code, doc, err = scan_json(cli, "--ca", str(ca_file), "--no-system-trust", "--import",
                               *targets)
    assert [i["status"] for i in doc["imported"]] == ["managed"]  # type: ignore[union-attr]
    code, out, _ = run_cli(cli, "list", "--json")
    assert code == 0 and "mail.example.com" in out


def test_discovery_lists_what_answered_and_counts_closed_ports(
        cli: CliRunner, home: Path, polite: dict[TlsMode, int], ca_file: Path) -> None:
    closed = _closed_port()
    block = f"127.0.0.1/32:{polite[TlsMode.DIRECT]},{closed}/tls"
    code, out, err = run_cli(cli, "scan", "--ca", str(ca_file), "--no-system-trust", block)
    assert code == 1  # a probe failed
    assert f"127.0.0.1:{polite[TlsMode.DIRECT]}" in out
    assert f"127.0.0.1:{closed}" not in out
    assert "1 closed or silent not listed" in err
    code, out, _ = run_cli(cli, "scan", "-v", "--ca", str(ca_file), "--no-system-trust", block)
    assert f"127.0.0.1:{closed}" in out and "CONNECTION_REFUSED" in out


def test_threads_option_keeps_results_in_order(cli: CliRunner, home: Path,
                                               polite: dict[TlsMode, int], ca_file: Path) -> None:
    targets = [f"127.0.0.1:{port}/{mode.protocol or 'tls'}" for mode, port in polite.items()]
    code, doc, err = scan_json(cli, "--threads", "2", "--ca", str(ca_file),
                               "--no-system-trust", *targets)
    assert code == 0, err
    assert [r["target"] for r in doc["results"]] == [  # type: ignore[union-attr]
        t.removesuffix("/tls") for t in targets]
