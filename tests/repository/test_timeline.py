"""The expiry timeline (schema 0006): its counts per week are what a plain Python count
over the same current certificates gives, with expiries on, and a second either side
of, every week's boundary, at a ``now`` in whole seconds and one between seconds, with
superseded and revoked versions that must not count, on both backends; on PostgreSQL
the counts read the partial index of current certificates' expiries; and a 0005
repository gets that index when opened."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certmgr.issuers import make_definition
from certmgr.repository import CertificateState, Repository, open_repository
from certmgr.repository.schema import HEAD_REVISION

NOW = dt.datetime(2026, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
WEEK = dt.timedelta(days=7)
BUCKETS = 52
_KEY = ec.generate_private_key(ec.SECP256R1())
_INDEX = "ix_certificates_current_not_after"


def _cert(cn: str, not_after: dt.datetime) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(_KEY.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=400)).not_valid_after(not_after)
            .sign(_KEY, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _fill(repo: Repository) -> None:
    second = dt.timedelta(seconds=1)
    # every third boundary (NOW + k weeks, k = 0, 3, .., 51) and a second either side; the
    # last boundary and a second after it; long expired; far ahead
    expiries = [NOW + k * WEEK + d for k in range(0, BUCKETS + 1, 3)
                for d in (-second, 0 * second, second)]
    expiries += [NOW - dt.timedelta(days=300), NOW + dt.timedelta(days=900),
                 NOW + BUCKETS * WEEK, NOW + BUCKETS * WEEK + second,
                 NOW + 10 * WEEK + dt.timedelta(hours=5)]
    for i, at in enumerate(expiries):
        name = f"c{i}"
        repo.save_definition(make_definition(name, f"{name}.example.org"))
        if i % 4 == 1:  # an older version, superseded by the current one
            repo.add_certificate(name, _cert(f"{name}.example.org", at + WEEK))
        repo.add_certificate(name, _cert(f"{name}.example.org", at))
    for i in (0, 1):  # revoked, none current: not on the timeline
        name = f"revoked{i}"
        repo.save_definition(make_definition(name, f"{name}.example.org"))
        repo.add_certificate(name, _cert(f"{name}.example.org", NOW + 3 * WEEK))
        repo.revoke_certificate(name, 1)


def _python_timeline(repo: Repository, now: dt.datetime) -> list[int]:
    counts = [0] * (BUCKETS + 2)
    for cert in repo.list_certificates(current_only=False):
        if cert.state is not CertificateState.CURRENT:
            continue
        if cert.not_after <= now:
            counts[0] += 1
            continue
        for i in range(BUCKETS):
            if now + i * WEEK < cert.not_after <= now + (i + 1) * WEEK:
                counts[i + 1] += 1
                break
        else:
            counts[BUCKETS + 1] += 1
    return counts


@pytest.mark.parametrize("now", [NOW, NOW + dt.timedelta(microseconds=500_000),
                                 NOW - dt.timedelta(microseconds=1)])
def test_the_timeline_counts_as_python_does(repo: Repository, now: dt.datetime) -> None:
    _fill(repo)
    expected = _python_timeline(repo, now)
    assert sum(expected) == len(repo.list_certificates()) == 59  # every current one, once
    assert expected[0] >= 2 and expected[-1] >= 2  # expired and later than the year
    timeline = repo.expiry_aggregate(now, buckets=BUCKETS, width=WEEK).timeline
    assert list(timeline) == expected


@pytest.mark.postgres
def test_the_timeline_reads_the_partial_index_on_postgresql(pg_url: str,
                                                            repo_home: Path) -> None:
    with open_repository(pg_url, repo_home) as repo:
        _fill(repo)
        with repo._db.tx() as tx:
            tx.execute("ANALYZE certificates")
            tx.execute("SET LOCAL enable_seqscan = off")
            plan = " ".join(str(r[0]) for r in tx.rows(
                "EXPLAIN SELECT count(*) FROM certificates WHERE state = 'current' "
                "AND not_after > ? AND not_after <= ?", (NOW, NOW + WEEK)))
    assert _INDEX in plan


def test_a_0005_repository_gets_the_current_expiry_index(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        _fill(repo)
        expected = _python_timeline(repo, NOW)
    conn = sqlite3.connect(home / "certmgr.db")  # the repository as 0005 left it
    conn.execute(f"DROP INDEX {_INDEX}")
    conn.execute("UPDATE alembic_version SET version_num = '0005'")
    conn.commit()
    conn.close()
    with open_repository(None, home) as repo:
        assert repo._db.read().scalar("SELECT version_num FROM alembic_version") == \
            HEAD_REVISION
        assert repo._db.read().scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?",
            (_INDEX,)) == 1
        assert list(repo.expiry_aggregate(NOW, buckets=BUCKETS, width=WEEK).timeline) == \
            expected
