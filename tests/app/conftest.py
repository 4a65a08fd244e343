"""A real repository in the test's directory, with the built-in CA and issued definitions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from certmgr.app import SimpleContext
from certmgr.issuers import init_builtin_ca, issue_definition, make_definition
from certmgr.pki import load_bundle
from certmgr.repository import CertificateRecord, Repository, open_repository


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    repository = open_repository(db_url=None, home=tmp_path / "home")
    yield repository
    repository.close()


@pytest.fixture
def ctx(repo: Repository, tmp_path: Path) -> SimpleContext:
    return SimpleContext(repo, tmp_path / "home")


@dataclass(frozen=True)
class Issued:
    """A certificate the built-in CA issued, with its chain and key as PEM."""

    record: CertificateRecord
    leaf_pem: bytes
    intermediate_pem: bytes
    root: x509.Certificate
    key_pem: bytes


def issue(repo: Repository, name: str, *targets: str) -> Issued:
    """Define ``name`` (built-in CA, init on first use) and issue it."""
    if not any(i.name == "builtin" for i in repo.list_issuers()):
        init_builtin_ca(repo)
    definition = repo.save_definition(make_definition(name, name, targets=targets))
    record = issue_definition(repo, definition).certificate
    assert record is not None
    chain = load_bundle(record.chain_pem.encode()).certificates
    from cryptography.hazmat.primitives.serialization import Encoding

    inter = [c for c in chain if c.subject != c.issuer]
    roots = [c for c in chain if c.subject == c.issuer]
    if not roots:
        ca = load_bundle(repo.get_issuer("builtin").certificates_pem.encode()).certificates
        roots = [c for c in ca if c.subject == c.issuer]
    key = repo.load_private_key(record.key_ref or "", reason="test")
    return Issued(record, record.cert_pem.encode(),
                  b"".join(c.public_bytes(Encoding.PEM) for c in inter), roots[0], key)
