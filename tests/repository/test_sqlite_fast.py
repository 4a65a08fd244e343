"""The stdlib SQLite fast path gives the Repository's answers and stores the same rows, and
steps aside (None) wherever only the full Repository may open the database."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certmgr.errors import MasterKeyError
from certmgr.repository import DefinitionRecord, Repository, RequestState, open_repository
from certmgr.repository.sqlite_fast import SqliteFastPath, open_fast_path
from tests.repository.conftest import make_cert


def _definition(name: str, **changes: object) -> DefinitionRecord:
    values: dict[str, object] = {
        "name": name, "cn": f"{name}.example.org", "sans": (f"alt.{name}.example.org",),
        "validity": timedelta(days=90), "issuer": "builtin",
        "targets": (f"web/nginx:{name}",), "data": {"note": name}}
    values.update(changes)
    return DefinitionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose repository has current, superseded and revoked versions, certificates
    inside and outside a 30-day window, definitions without certificates, and requests."""
    home = tmp_path_factory.mktemp("reader") / "home"
    with open_repository(None, home) as repo:
        for i, days in enumerate((5, 20, 45, 200, 1)):
            name = f"d{i}"
            repo.save_definition(_definition(name))
            repo.add_certificate(name, make_cert(f"{name}.example.org", days=days + 30)[0],
                                 issuer="builtin")
            repo.add_certificate(name, make_cert(f"{name}.example.org", days=days)[0],
                                 issuer="builtin")
        repo.revoke_certificate("d3", 2, reason="test")
        repo.save_definition(_definition("empty", sans=(), targets=(), data={}))
        _pem, key = make_cert("pending.example.org")
        repo.save_definition(_definition("pending"))
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p")]))
               .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
        csr_pem = csr.public_bytes(serialization.Encoding.PEM).decode()
        first = repo.create_request("pending", key, csr_pem)  # type: ignore[arg-type]
        repo.create_request("pending", key, csr_pem)  # type: ignore[arg-type]
        repo.set_request_state(first.id, RequestState.CANCELLED)
    return home


@pytest.fixture
def both(filled: Path) -> Iterator[tuple[Repository, SqliteFastPath]]:
    repo = open_repository(None, filled)
    reader = open_fast_path(None, filled)
    assert reader is not None
    yield repo, reader
    reader.close()
    repo.close()


def test_reader_answers_as_the_repository(both: tuple[Repository, SqliteFastPath]) -> None:
    repo, reader = both
    now = datetime.now(UTC)
    for kwargs in ({}, {"expiring_within": timedelta(days=30), "now": now},
                   {"expiring_within": timedelta(days=30)}, {"current_only": False},
                   {"definition": "d1", "current_only": False}, {"limit": 2},
                   {"expiring_within": timedelta(days=1), "now": now - timedelta(days=10)}):
        mine = reader.list_certificates(**kwargs)
        assert mine == repo.list_certificates(**kwargs), kwargs  # type: ignore[arg-type]
    expiring = reader.list_certificates(expiring_within=timedelta(days=30), now=now)
    assert [c.definition for c in expiring] == ["d4", "d0", "d1"]
    for name in ("d0", "d3", "empty", "absent"):
        assert reader.current_certificate(name) == repo.current_certificate(name), name
    assert reader.list_definitions() == repo.list_definitions()
    names = ["d0", "d3", "empty", "absent"]
    assert reader.get_definitions(names) == repo.get_definitions(names)
    assert reader.get_definitions([]) == {}
    for kwargs in ({}, {"state": None}, {"definition": "pending"}, {"definition": "d0"}):
        mine = reader.list_requests(**kwargs)
        assert mine == repo.list_requests(**kwargs), kwargs  # type: ignore[arg-type]
    assert len(reader.list_requests(state=None)) == 2


def test_reader_declines_what_only_the_repository_may_open(tmp_path: Path,
                                                           filled: Path) -> None:
    home = tmp_path / "home"
    assert open_fast_path(None, home) is None  # nothing there yet: the Repository creates it
    assert open_fast_path("postgresql://u@127.0.0.1/db", home) is None
    assert open_fast_path(f"sqlite:///{filled / 'certmgr.db'}?timeout=5", home) is None
    # An explicit sqlite:/// URL of a set-up repository is served.
    reader = open_fast_path(f"sqlite:///{filled / 'certmgr.db'}", filled)
    assert reader is not None
    reader.close()

    # A database at another schema revision: the Repository upgrades or refuses it.
    open_repository(None, home).close()
    db = home / "certmgr.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    assert open_fast_path(None, home) is None

    # A damaged file.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "certmgr.db").write_bytes(b"not a database at all" * 100)
    assert open_fast_path(None, broken) is None


def test_reader_checks_the_master_key_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_repository(None, home).close()
    key_file = home / "master.key"
    kept = key_file.read_bytes()
    key_file.unlink()
    reader = open_fast_path(None, home)  # no key file: listing still works, as in the Repository
    assert reader is not None
    assert reader.list_certificates() == []
    with pytest.raises(MasterKeyError, match="is missing"):  # storing a key cannot
        reader.add_certificate("www", make_cert()[0], key=make_cert()[1])  # type: ignore[arg-type]
    reader.close()
    other = tmp_path / "other"
    open_repository(None, other).close()
    key_file.write_bytes((other / "master.key").read_bytes())
    key_file.chmod(0o600)
    assert open_fast_path(None, home) is None  # the wrong key: the Repository says so
    with pytest.raises(MasterKeyError):
        open_repository(None, home)
    key_file.write_bytes(kept)
    assert open_fast_path(None, home) is not None


def test_passphrase_repository_takes_the_full_path(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_repository(None, home, passphrase="correct horse").close()
    assert open_fast_path(None, home) is None


def test_list_json_needs_no_sqlalchemy(filled: Path) -> None:
    # `certmgr list` on a set-up SQLite repository imports no SQLAlchemy: that import
    # is most of a small command's start-up.
    code = ("import sys\nfrom certmgr.cli.app import main\n"
            f"sys.argv = ['certmgr', '--home', {str(filled)!r}, 'list', '--json']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'pydantic', 'alembic'))\n"
            "sys.stderr.write(repr(loaded))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("[]")
    assert '"name": "d0"' in proc.stdout


# -- writes ------------------------------------------------------------------------------

_TYPES = ("SELECT typeof(version), typeof(serial), typeof(sans), sans, typeof(not_before), "
          "length(not_before), typeof(not_after), typeof(key_id), state, typeof(created), "
          "length(created) FROM certificates WHERE id = ?")


def test_add_certificate_stores_what_the_repository_stores(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    home = tmp_path / "home"
    repo = open_repository(None, home)
    fast = open_fast_path(None, home)
    assert fast is not None
    try:
        repo.save_definition(_definition("www"))
        pem1, key1 = make_cert("www.example.org")
        first = fast.add_certificate("www", pem1, chain_pem="", key=key1,  # type: ignore[arg-type]
                                     issuer="builtin")
        assert first == repo.get_certificate("www", 1)
        pem2, key2 = make_cert("www.example.org")
        second = fast.add_certificate("www", pem2, key=key2)  # type: ignore[arg-type]
        pem3, key3 = make_cert("www.example.org")
        third = repo.add_certificate("www", pem3, key=key3)  # type: ignore[arg-type]
        states = [(c.version, c.state.value)
                  for c in repo.list_certificates(current_only=False, definition="www")]
        assert sorted(states) == [(1, "superseded"), (2, "superseded"), (3, "current")]
        assert second.issuer == third.issuer  # both default to the certificate's issuer DN

        # Column by column, the fast path's rows have the types and formats SQLAlchemy writes.
        with sqlite3.connect(home / "certmgr.db") as conn:
            rows = [conn.execute(_TYPES, (c.id,)).fetchone() for c in (second, third)]
        conn.close()
        assert rows[0][:3] == rows[1][:3] and rows[0][4:8] == rows[1][4:8]
        assert rows[0][9:] == rows[1][9:]
        assert rows[0][3] == rows[1][3] == '["www.example.org", "example.org"]'

        # The key is stored encrypted, described, audited, and opens with the Repository.
        assert first.key_ref is not None
        info = repo.private_key_info(first.key_ref)
        assert (info.kind, info.algorithm) == ("certificate", "ec-secp256r1")
        der = key1.private_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())
        assert repo.load_private_key(first.key_ref, reason="test") == der
        assert fast.load_private_key(first.key_ref, reason="test again") == der
        events = repo.list_audit(limit=20)
        mine = [(e.action, e.detail) for e in events if e.actor == fast.actor]
        assert ("key.read", {"kind": "certificate", "reason": "test again"}) in mine
        assert ("certificate.add", {"version": 2, "serial": second.serial}) in mine
        assert ("key.store", {"kind": "certificate", "algorithm": "ec-secp256r1"}) in mine
        assert all(e.time.tzinfo is not None for e in events)
    finally:
        fast.close()
        repo.close()


def test_fast_path_errors_store_nothing_and_other_methods_are_forwarded(tmp_path: Path) -> None:
    from certmgr.errors import InputError, NotFound

    home = tmp_path / "home"
    open_repository(None, home).close()
    with open_fast_path(None, home) as fast:  # type: ignore[union-attr]
        pem, key = make_cert()
        with pytest.raises(NotFound, match="no definition 'absent'"):
            fast.add_certificate("absent", pem, key=key)  # type: ignore[arg-type]
        with pytest.raises(InputError, match="not a PEM certificate"):
            fast.add_certificate("absent", "garbage")
        with pytest.raises(NotFound, match="no issuer 'builtin'"):
            fast.get_issuer("builtin")
        # save_definition is not a fast-path method: the full Repository does it.
        fast.save_definition(_definition("www"))
        assert [d.name for d in fast.list_definitions()] == ["www"]
        assert fast.get_definition("www") == fast.get_definitions(["www"])["www"]
        pending_key = make_cert()[1]
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "w")]))
               .sign(pending_key, hashes.SHA256()))  # type: ignore[arg-type]
        request = fast.create_request("www", pending_key,  # type: ignore[arg-type]
                                      csr.public_bytes(serialization.Encoding.PEM).decode())
        received = fast.add_certificate("www", make_cert(key=pending_key)[0],
                                        key_ref=request.key_ref, request_id=request.id)
        assert received.key_ref == request.key_ref
        assert fast.list_requests() == []
        assert fast.list_requests(state=RequestState.RECEIVED)[0].id == request.id
    with open_repository(None, home) as repo:
        assert repo.list_audit(limit=1)[0].action == "certificate.add"
        assert len(repo.list_certificates(current_only=False)) == 1


def test_issue_all_needs_no_sqlalchemy(tmp_path: Path) -> None:
    home = tmp_path / "home"
    certmgr = [sys.executable, "-m", "certmgr", "--home", str(home)]
    subprocess.run([*certmgr, "ca", "init", "-q"], check=True, capture_output=True, timeout=120)
    with open_repository(None, home) as repo:
        for name in ("a", "b"):
            repo.save_definition(_definition(name))
    code = ("import sys\nfrom certmgr.cli.app import main\n"
            f"sys.argv = ['certmgr', '--home', {str(home)!r}, 'issue', '--all', '--json']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy')\n"
            "sys.stderr.write(repr(loaded))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.endswith("[]")
    with open_repository(None, home) as repo:
        issued = repo.list_certificates()
        assert sorted(c.definition for c in issued) == ["a", "b"]
        assert all(c.issuer == "builtin" and c.key_ref for c in issued)
        assert {"key.read", "key.store", "certificate.add"} <= \
            {e.action for e in repo.list_audit(limit=20)}


def test_fast_path_statements_cover_every_column() -> None:
    # A column added to these tables (with its Alembic revision and HEAD_REVISION) must be
    # written by the fast path too, or the two paths would store different rows.
    import re

    from sqlalchemy import Integer

    from certmgr.repository import sqlite_fast
    from certmgr.repository.tables import Base

    for statement in (sqlite_fast._INSERT_CERT, sqlite_fast._INSERT_KEY,
                      sqlite_fast._INSERT_AUDIT):
        match = re.match(r"INSERT INTO (\w+) \(([^)]*)\)", statement)
        assert match is not None
        table = Base.metadata.tables[match.group(1)]
        written = {c.strip() for c in match.group(2).split(",")}
        # An INTEGER id is the database's to number; a text id (private_keys) is ours.
        numbered = {"id"} if isinstance(table.c.id.type, Integer) else set()
        expected = {c.name for c in table.columns} - numbered
        assert written == expected, (table.name, written ^ expected)
