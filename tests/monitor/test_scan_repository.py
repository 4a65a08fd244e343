"""Scans judged against the repository: DRIFT, slot names, certmgr's own CA trusted."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from certmgr.models import TlsMode
from certmgr.monitor.scan import ScanPolicy, scan
from certmgr.monitor.scan_repository import observation_record, repository_expectations
from certmgr.probe.prober import ProbeOptions
from certmgr.probe.targets import Target
from certmgr.repository import DefinitionRecord, Repository, open_repository
from tests.conftest import run_cli
from tests.monitor import servers
from tests.monitor.conftest import Pki

SLOT = "nginx:mail.example.com"


def _discovery(port: int, address: str = "127.0.0.1") -> list[dict[str, object]]:
    return [{"kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root", "slots": [{
        "id": SLOT, "config": "/etc/nginx/sites-enabled/mail", "names": ["mail.example.com"],
        "endpoints": [{"address": address, "port": port, "tls": "direct", "sni": None}],
        "cert": "/etc/nginx/ssl/certs/mail.crt", "key": "/etc/nginx/ssl/private/mail.key",
        "chain": None, "ca": None, "keystore": None, "keystore_type": None}]}]


@pytest.fixture
def repo(home: Path) -> Iterator[Repository]:
    repository = open_repository(None, home)
    yield repository
    repository.close()


def _deploy(repo: Repository, cert_pem: str) -> int:
    if not repo.list_definitions():
        repo.save_definition(DefinitionRecord(name="mail", cn="mail.example.com",
                                              sans=("mail.example.com",), targets=(SLOT,)))
    version = repo.add_certificate("mail", cert_pem).version
    deployment = repo.create_deployment("mail", version, f"local/{SLOT}")
    repo.update_deployment(deployment.id, "verified")
    return version


def test_served_equals_deployed_then_drift(repo: Repository, cli: CliRunner, home: Path,
                                           polite: dict[TlsMode, int], pki: Pki) -> None:
    port = polite[TlsMode.DIRECT]
    repo.upsert_host("local", "local")
    repo.save_discovery("local", _discovery(port, "*"))
    _deploy(repo, pki.leaf.cert_chain_pems[0].bytes().decode())
    repo.save_issuer("builtin", "builtin", certificates_pem=pki.ca.cert_pem.bytes().decode())
    repo.close()

    # certmgr's own CA (from the repository) is trusted: no chain findings without --ca.
    code, out, err = run_cli(cli, "scan", "--json", "--no-system-trust", f"127.0.0.1:{port}")
    assert code == 0, out + err
    (result,) = json.loads(out)["results"]
    assert result["findings"] == []

    other = trustme.CA().issue_cert("mail.example.com")
    version = _deploy(open_repository(None, home), other.cert_chain_pems[0].bytes().decode())
    code, out, _ = run_cli(cli, "scan", "--json", "--no-system-trust", f"127.0.0.1:{port}")
    assert code == 1
    (result,) = json.loads(out)["results"]
    (drift,) = result["findings"]
    assert drift["code"] == "DRIFT" and drift["severity"] == "error"
    assert drift["slot"] == f"local/{SLOT}" and drift["service"] == "nginx"
    assert drift["target"] == f"127.0.0.1:{port}"
    assert f"mail version {version}" in drift["message"]


def test_slot_names_are_checked_and_unknown_endpoints_left_alone(
        repo: Repository, server_thread: servers.ServerThread, pki: Pki,
        polite: dict[TlsMode, int]) -> None:
    wrong = pki.ca.issue_cert("www.example.org")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    wrong.configure_cert(ctx)
    port = server_thread.serve(servers.direct(ctx), tls=ctx)
    repo.save_discovery("local", _discovery(port))
    trust = (pki.ca.cert_pem.bytes(),)
    from cryptography import x509

    policy = ScanPolicy(trust=tuple(x509.load_pem_x509_certificate(p) for p in trust),
                        expected=repository_expectations(repo))
    known, unknown = scan([Target("127.0.0.1", port),
                           Target("127.0.0.1", polite[TlsMode.DIRECT])],
                          options=ProbeOptions(timeout=5), policy=policy)
    assert [f.code for f in known.findings] == ["NAME_MISMATCH"]
    assert known.findings[0].slot == f"local/{SLOT}"
    assert unknown.findings == ()

    record = observation_record(known, host="local")
    assert record.ok and record.port == port and record.tls == "direct"
    assert record.leaf_sha256 == known.probe.leaf_sha256
    assert record.chain_sha256 == tuple(e["sha256"] for e in known.chain)
    assert record.not_after is not None and record.findings[0]["code"] == "NAME_MISMATCH"
    stored = repo.add_observation(record)
    assert stored.leaf_sha256 == record.leaf_sha256


def test_builtin_ca_root_is_the_anchor_not_its_intermediate(
        repo: Repository, cli: CliRunner, home: Path, tmp_path: Path, pki: Pki,
        server_thread: servers.ServerThread) -> None:
    intermediate = pki.ca.create_child_ca()
    leaf = intermediate.issue_cert("mail.example.com")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))  # the leaf alone, no intermediate
    leaf.private_key_pem.write_to_path(str(key_file))
    ctx.load_cert_chain(cert_file, key_file)
    port = server_thread.serve(servers.direct(ctx), tls=ctx)
    pems = intermediate.cert_pem.bytes() + pki.ca.cert_pem.bytes()
    repo.save_issuer("builtin", "builtin", certificates_pem=pems.decode())
    repo.close()
    code, out, _ = run_cli(cli, "scan", "--json", "--no-system-trust", f"127.0.0.1:{port}")
    assert code == 1
    (result,) = json.loads(out)["results"]
    assert [f["code"] for f in result["findings"]] == ["CHAIN_INCOMPLETE"]
