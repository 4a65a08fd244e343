"""A fresh SQLite repository with the built-in CA, per test (CA made once per session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.issuers import CAMaterial, create_ca
from certmgr.pki import certificates_pem
from certmgr.repository import IssuerKind, Repository, open_repository


@pytest.fixture(scope="session")
def ca_material() -> CAMaterial:
    return create_ca("Test Root CA", "certmgr tests")


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    repository = open_repository(db_url=None, home=tmp_path / "home")
    yield repository
    repository.close()


@pytest.fixture
def ca_repo(repo: Repository, ca_material: CAMaterial) -> Repository:
    """The repository with ``ca_material`` stored as the built-in CA (like `ca init`)."""
    repo.save_issuer(
        "builtin", IssuerKind.BUILTIN, config={"crl_number": 0, "revoked": []},
        certificates_pem=certificates_pem([ca_material.intermediate, ca_material.root]).decode(),
        keys={"root": ca_material.root_key, "intermediate": ca_material.intermediate_key})
    return repo


# PostgreSQL for the postgres-marked tests: the repository tests' throwaway databases.
from tests.repository.conftest import pg_admin_url, pg_databases, pg_url  # noqa: E402

__all__ = ["pg_admin_url", "pg_databases", "pg_url"]
