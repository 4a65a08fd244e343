"""Deploying an ACME certificate: the CA sends the leaf and intermediates, never the root,
so the slot's trust anchors are the issuer's stored roots, else the system store (where a
public CA's root is)."""

from __future__ import annotations

from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from certmgr.deploy.sources import material_from_repository
from certmgr.issuers.definitions import make_definition
from certmgr.pki.trust import anchors, system_anchors
from certmgr.repository import open_repository
from certmgr.repository.records import IssuerKind


def _issued(home: Path, roots_pem: str) -> tuple[tuple[x509.Certificate, ...],
                                                   x509.Certificate]:
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert("a.example.test")
    with open_repository(None, home) as repo:
        repo.save_issuer("le", IssuerKind.ACME, config={"directory": "https://ca.invalid/dir"},
                         certificates_pem=roots_pem.replace("@ROOT@", ca.cert_pem.bytes()
                                                            .decode()))
        repo.save_definition(make_definition("a", "a.example.test", issuer="le"))
        repo.add_certificate(
            "a", leaf.cert_chain_pems[0].bytes().decode(),
            chain_pem=intermediate.cert_pem.bytes().decode(),
            key=load_pem_private_key(leaf.private_key_pem.bytes(), None), issuer="le")
        trusted = material_from_repository(repo, "a").trusted
    return trusted, x509.load_pem_x509_certificate(ca.cert_pem.bytes())


def test_acme_issuer_without_stored_roots_trusts_the_system_store(tmp_path: Path) -> None:
    trusted, root = _issued(tmp_path / "home", "")
    assert trusted == anchors(system_anchors())
    assert root not in trusted  # a private CA's root is not trusted by that


def test_acme_issuer_with_a_stored_root_trusts_that_root(tmp_path: Path) -> None:
    trusted, root = _issued(tmp_path / "home", "@ROOT@")
    assert trusted == (root,)
