"""The one trust rule: roots are the anchors, intermediates only help build paths; check,
scan and monitor judge the same chain the same way (real repository, real TLS on loopback).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.app import SimpleContext
from certmgr.app.inventory import check
from certmgr.app.monitor import make_monitor
from certmgr.app.scan import scan, scan_policy
from certmgr.app.trust import builtin_roots, trust_for
from certmgr.checks.certificate import check_certificates
from certmgr.models import Finding
from certmgr.monitor.settings import load_settings
from certmgr.pki import fingerprint_sha256, load_bundle
from certmgr.pki.trust import anchors, intermediates
from certmgr.probe.prober import ProbeOptions
from certmgr.probe.targets import parse_target
from certmgr.repository import Repository
from certmgr.testing.tls_endpoint import TlsEndpoint, server_context
from tests.app.conftest import Issued, issue

CHAIN_CODES = {"CHAIN_INCOMPLETE", "CHAIN_UNTRUSTED"}


def chain_codes(findings: Iterable[Finding]) -> set[str]:
    return {f.code for f in findings if f.code in CHAIN_CODES}


@pytest.fixture
def www(repo: Repository) -> Issued:
    return issue(repo, "www.example.com")


def test_roots_are_anchors_and_intermediates_are_not(repo: Repository, www: Issued) -> None:
    ca = load_bundle(repo.get_issuer("builtin").certificates_pem.encode()).certificates
    assert [c.subject for c in anchors(ca)] == [www.root.subject]
    assert [c.subject != c.issuer for c in intermediates(ca)] == [True]
    # The built-in CA contributes its root only, never its intermediate.
    assert [fingerprint_sha256(c) for c in builtin_roots(repo)] == [
        fingerprint_sha256(www.root)]
    assert builtin_roots(None) == []


def test_an_intermediate_given_as_trust_is_no_anchor(www: Issued) -> None:
    leaf = load_bundle(www.leaf_pem).certificates[0]
    (inter,) = load_bundle(www.intermediate_pem).certificates

    def judge(chain: list[x509.Certificate], trust: list[x509.Certificate]) -> set[str]:
        return chain_codes(check_certificates(chain, names=["www.example.com"], trust=trust))

    assert judge([leaf, inter], [www.root]) == set()
    # It helps build the path from a leaf sent alone to the root ...
    assert judge([leaf], [www.root, inter]) == set()
    # ... but a chain that ends at it is not trusted (before: it was an anchor).
    assert judge([leaf, inter], [inter]) == {"CHAIN_INCOMPLETE"}
    assert judge([leaf], [inter]) == {"CHAIN_INCOMPLETE"}
    # And with only the root, a server that leaves out the intermediate is incomplete.
    assert judge([leaf], [www.root]) == {"CHAIN_INCOMPLETE"}


def _write(root: Path, path: str, data: bytes, mode: int = 0o644) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(mode)


def apache_tree(root: Path, cert_pem: bytes, key_pem: bytes) -> Path:
    """An Apache with one TLS site and no trusted-CA file of its own."""
    uid, gid = os.getuid(), os.getgid()
    root.mkdir()
    root.chmod(0o755)
    _write(root, "/etc/passwd", f"root:x:{uid}:{gid}::/root:/bin/sh\n".encode())
    _write(root, "/etc/group", f"root:x:{gid}:\n".encode())
    _write(root, "/etc/hostname", b"web1\n")
    _write(root, "/etc/apache2/apache2.conf", b"""ServerRoot /etc/apache2
<VirtualHost *:443>
  ServerName www.example.com
  SSLEngine on
  SSLCertificateFile /etc/apache2/ssl/certs/www.crt
  SSLCertificateKeyFile /etc/apache2/ssl/private/www.key
</VirtualHost>
""")
    _write(root, "/etc/apache2/ssl/certs/www.crt", cert_pem)
    _write(root, "/etc/apache2/ssl/private/www.key", key_pem, 0o600)
    (root / "etc/apache2/ssl/private").chmod(0o700)
    return root


def test_check_no_longer_trusts_the_built_in_intermediate(repo: Repository, www: Issued,
                                                           tmp_path: Path) -> None:
    """Visible change: `certmgr check` used to take every issuer certificate as an anchor,
    so a cert file without its intermediate passed; it now is CHAIN_INCOMPLETE, as a
    client (and `scan`) sees it."""
    alone = apache_tree(tmp_path / "alone", www.leaf_pem, www.key_pem)
    report = check(SimpleContext(repo, tmp_path / "home", alone), "local")
    assert report.slots == 1
    assert chain_codes(report.findings) == {"CHAIN_INCOMPLETE"}
    full = apache_tree(tmp_path / "full", www.leaf_pem + www.intermediate_pem, www.key_pem)
    report = check(SimpleContext(repo, tmp_path / "home", full), "local")
    assert chain_codes(report.findings) == set()


def _scan_one(repo: Repository | None, port: int, **trust: object) -> set[str]:
    policy = scan_policy(repo, **trust)  # type: ignore[arg-type]
    (result,) = scan([parse_target(f"127.0.0.1:{port}", sni="www.example.com")], policy,
                     ProbeOptions(timeout=5))
    assert result.probe.ok, result.probe.reason
    return chain_codes(result.findings)


def test_scan_and_monitor_judge_a_served_chain_like_check(repo: Repository, www: Issued,
                                                         tmp_path: Path) -> None:
    alone = server_context(www.leaf_pem, www.key_pem)
    full = server_context(www.leaf_pem + www.intermediate_pem, www.key_pem)
    with TlsEndpoint(alone) as endpoint:
        assert _scan_one(repo, endpoint.port, system_trust=False) == {"CHAIN_INCOMPLETE"}
        endpoint.serve(full)
        assert _scan_one(repo, endpoint.port, system_trust=False) == set()
        # Without a repository the built-in root is unknown: untrusted unless given.
        root_file = tmp_path / "root.pem"
        root_file.write_bytes(_pem(www.root))
        inter_file = tmp_path / "inter.pem"
        inter_file.write_bytes(www.intermediate_pem)
        assert _scan_one(None, endpoint.port, system_trust=False,
                         ca_files=[root_file]) == set()
        # Visible change: `scan --ca` with an intermediate only no longer trusts it.
        assert _scan_one(None, endpoint.port, system_trust=False,
                         ca_files=[inter_file]) == {"CHAIN_INCOMPLETE"}
    # The monitor judges against the same anchors as scan (and check's extra ones).
    settings = load_settings(tmp_path / "home")
    monitor = make_monitor(SimpleContext(repo, tmp_path / "home"), settings)
    assert monitor.trust is not None
    same = {fingerprint_sha256(c) for c in trust_for(repo)}
    assert {fingerprint_sha256(c) for c in monitor.trust} == same
    assert fingerprint_sha256(www.root) in same


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.PEM)
