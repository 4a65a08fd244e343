"""Repository fixtures: a fresh SQLite or PostgreSQL database per test.

PostgreSQL comes from ``CERTMGR_TEST_PG_URL`` (``.ci/run`` starts a throwaway
cluster and sets it) or from a throwaway cluster this fixture starts in a temp
directory on 127.0.0.1 and removes at the end of the session. Without either,
PostgreSQL tests skip locally and fail under ``CI=true``.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from certmgr.repository import Repository, open_repository
from certmgr.testing import skip_or_fail

PG_ENV = "CERTMGR_TEST_PG_URL"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _start_cluster(workdir: Path) -> tuple[str, list[str]]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        skip_or_fail("PostgreSQL is not installed and CERTMGR_TEST_PG_URL is not set")
    bindir = Path(bins[-1]).parent
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
    data, port = workdir / "data", _free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust",
                                 "-U", "postgres"]), check=True, capture_output=True)
    subprocess.run(_as_postgres([
        str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "log"), "-o",
        f"-c listen_addresses=127.0.0.1 -c port={port} -k {workdir} -c fsync=off",
        "start"]), check=True, capture_output=True)
    stop = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", stop


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server URL where the tests may create and drop databases."""
    given = os.environ.get(PG_ENV)
    if given:
        yield given
        return
    workdir = Path(tempfile.mkdtemp(prefix="certmgr-test-pg-"))
    stop: list[str] = []
    try:
        try:
            url, stop = _start_cluster(workdir)
        except (subprocess.CalledProcessError, OSError) as exc:
            skip_or_fail(f"cannot start a throwaway PostgreSQL cluster: {exc}")
        yield url
    finally:
        if stop:
            subprocess.run(stop, check=False, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def pg_databases(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty PostgreSQL databases for one test; drops them afterwards."""
    conninfo = pg_admin_url.replace("postgres://", "postgresql://", 1)
    base = conninfo.split("?", 1)[0].rsplit("/", 1)[0]
    made: list[str] = []

    def new() -> str:
        name = f"certmgr_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # name is ours: hex only
        made.append(name)
        return f"{base}/{name}"

    try:
        yield new
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_databases: Callable[[], str]) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return pg_databases()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (SQLite in the home) or a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def repo_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CERTMGR_PASSPHRASE", raising=False)
    return tmp_path / "home"


@pytest.fixture
def repo(db_url: str | None, repo_home: Path) -> Iterator[Repository]:
    """An open repository on SQLite and on PostgreSQL (the test runs once per backend)."""
    repository = open_repository(db_url, repo_home)
    try:
        yield repository
    finally:
        repository.close()


def make_cert(cn: str = "www.example.org", *, days: int = 90, key: object = None,
              sans: tuple[str, ...] = ("www.example.org", "example.org")) -> tuple[str, object]:
    """A self-signed certificate PEM and its key (tests only: a leaf, not a CA)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = key or ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key())  # type: ignore[attr-defined]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in sans]),
                           critical=False)
            .sign(private, hashes.SHA256()))  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM).decode(), private
