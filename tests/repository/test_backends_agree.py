"""One repository implementation: SQLite and PostgreSQL give the same answers, SQLite rows
keep the formats earlier certmgr versions wrote, and the hot commands (``list``,
``issue --all``) load nothing they do not use (no psycopg on SQLite, no ORM at all)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from certmgr.repository import DefinitionRecord, Repository, RequestState, open_repository
from tests.repository.conftest import make_cert

_HEAVY = ("sqlalchemy", "alembic", "psycopg", "pydantic")


def _definition(name: str, **changes: object) -> DefinitionRecord:
    values: dict[str, object] = {
        "name": name, "cn": f"{name}.example.org", "sans": (f"alt.{name}.example.org",),
        "validity": timedelta(days=90), "issuer": "builtin",
        "targets": (f"web/nginx:{name}",), "data": {"note": name}}
    values.update(changes)
    return DefinitionRecord(**values)  # type: ignore[arg-type]


def _fill(repo: Repository, certs: list[tuple[str, str]], csr_pem: str, key: Any) -> None:
    """Current, superseded and revoked versions inside and outside a 30-day window,
    a definition without certificates, and requests in two states."""
    for i, (first, second) in enumerate(certs):
        name = f"d{i}"
        repo.save_definition(_definition(name))
        repo.add_certificate(name, first, issuer="builtin")
        repo.add_certificate(name, second, issuer="builtin")
    repo.revoke_certificate("d3", 2, reason="test")
    repo.save_definition(_definition("empty", sans=(), targets=(), data={}))
    repo.save_definition(_definition("pending"))
    first_request = repo.create_request("pending", key, csr_pem)
    repo.create_request("pending", key, csr_pem)
    repo.set_request_state(first_request.id, RequestState.CANCELLED)


def _answers(repo: Repository) -> dict[str, Any]:
    def cert(c: Any) -> tuple[Any, ...]:
        return (c.definition, c.version, c.serial, c.sha256, c.subject, c.sans, c.not_before,
                c.not_after, c.issuer, c.state)

    def definition(d: DefinitionRecord) -> tuple[Any, ...]:
        return (d.name, d.cn, d.sans, d.key_type, d.validity, d.issuer, d.renew_before,
                d.targets, d.data)

    return {
        "expiring": [cert(c) for c in repo.list_certificates(expiring_within=timedelta(days=30))],
        "all": [cert(c) for c in repo.list_certificates(current_only=False)],
        "limited": [cert(c) for c in repo.list_certificates(limit=2)],
        "one": [cert(c) for c in repo.list_certificates(definition="d1", current_only=False)],
        "current": cert(repo.current_certificate("d2")),
        "definitions": [definition(d) for d in repo.list_definitions()],
        "bulk": sorted(definition(d) for d in repo.get_definitions(["d0", "d4", "x"]).values()),
        "targets": [d.name for d in repo.definitions_for_target("web/nginx:d1")],
        "pending": [(r.definition, r.state) for r in repo.list_requests()],
        "requests": [(r.definition, r.state) for r in repo.list_requests(state=None)],
    }


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_answers(pg_url: str, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    certs = [(make_cert(f"d{i}.example.org", days=days + 30)[0],
              make_cert(f"d{i}.example.org", days=days)[0])
             for i, days in enumerate((5, 20, 45, 200, 1))]
    _pem, key = make_cert("pending.example.org")
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p")]))
           .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
    answers = []
    for url, home in ((None, tmp_path / "sqlite"), (pg_url, tmp_path / "pg")):
        with open_repository(url, home) as repo:
            _fill(repo, certs, csr_pem, key)
            answers.append(_answers(repo))
    assert answers[0] == answers[1]
    assert [c[0] for c in answers[0]["expiring"]] == ["d4", "d0", "d1"]


def test_sqlite_rows_keep_the_formats_earlier_versions_wrote(tmp_path: Path) -> None:
    # Earlier certmgr versions (and their backups' readers) stored UTC times as
    # 'YYYY-MM-DD HH:MM:SS.ffffff' text and JSON as json.dumps text.
    home = tmp_path / "home"
    with open_repository(None, home) as repo:
        repo.save_definition(_definition("www"))
        pem, key = make_cert("www.example.org")
        added = repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
    conn = sqlite3.connect(home / "certmgr.db")
    try:
        row = conn.execute("SELECT typeof(version), typeof(sans), sans, typeof(not_after), "
                           "not_after, typeof(key_id), state FROM certificates").fetchone()
    finally:
        conn.close()
    assert row[:4] == ("integer", "text", '["www.example.org", "example.org"]', "text")
    assert row[4] == added.not_after.strftime("%Y-%m-%d %H:%M:%S.%f")
    assert row[5:] == ("text", "current")


def _run_loaded(home: Path, *argv: str) -> tuple[str, str]:
    code = ("import sys\nfrom certmgr.cli.app import main\n"
            f"sys.argv = ['certmgr', '--home', {str(home)!r}, *{list(argv)!r}]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {_HEAVY!r})\n"
            "sys.stderr.write(repr(loaded))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_list_and_issue_all_load_no_orm_and_no_postgresql_driver(tmp_path: Path) -> None:
    home = tmp_path / "home"
    certmgr = [sys.executable, "-m", "certmgr", "--home", str(home)]
    subprocess.run([*certmgr, "ca", "init", "-q"], check=True, capture_output=True, timeout=120)
    with open_repository(None, home) as repo:
        for name in ("a", "b"):
            repo.save_definition(_definition(name))
    _out, loaded = _run_loaded(home, "issue", "--all", "--json")
    assert loaded.endswith("[]")
    out, loaded = _run_loaded(home, "list", "--json")
    assert loaded.endswith("[]")
    assert '"a"' in out and '"b"' in out
    with open_repository(None, home) as repo:
        issued = repo.list_certificates()
        assert sorted(c.definition for c in issued) == ["a", "b"]
        assert all(c.issuer == "builtin" and c.key_ref for c in issued)
        assert {"key.read", "key.store", "certificate.add"} <= \
            {e.action for e in repo.list_audit(limit=20)}


def test_a_failed_statement_changes_nothing(repo: Repository) -> None:
    from certmgr.errors import InputError, NotFound

    pem, key = make_cert()
    with pytest.raises(NotFound, match="no definition 'absent'"):
        repo.add_certificate("absent", pem, key=key)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a PEM certificate"):
        repo.add_certificate("absent", "garbage")
    assert [e.action for e in repo.list_audit()] == ["master_key.create"]
    assert repo._db.read().scalar("SELECT count(*) FROM private_keys") == 0
