"""The repository's hot paths (add_certificate, bulk lookups, SQLite pragmas) give the
same answers as the plain ones, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from certmgr.repository import DefinitionRecord, Repository, RequestState, open_repository
from tests.repository.conftest import make_cert


def _definition(name: str) -> DefinitionRecord:
    return DefinitionRecord(name=name, cn=f"{name}.example.org", sans=(f"{name}.example.org",),
                            validity=timedelta(days=90), issuer="builtin",
                            targets=(f"web/nginx:{name}",), data={"note": name})


def test_get_definitions_matches_get_definition_across_chunks(repo: Repository) -> None:
    # More names than one IN (...) query takes, to cross a chunk boundary.
    names = [f"d{i:04d}" for i in range(1203)]
    for name in names[:1200]:
        repo.save_definition(_definition(name))
    found = repo.get_definitions([*names, names[0], "absent"])
    assert sorted(found) == names[:1200]
    for name in ("d0000", "d0499", "d0500", "d1199"):
        assert found[name] == repo.get_definition(name)
    assert found["d0007"].targets == ("web/nginx:d0007",)
    assert found["d0007"].data == {"note": "d0007"}
    assert repo.get_definitions([]) == {}
    assert repo.list_definitions()[0] == found["d0000"]


def test_add_certificate_returns_what_is_stored(repo: Repository) -> None:
    repo.save_definition(_definition("www"))
    pem, key = make_cert()
    record = repo.add_certificate("www", pem, key=key, issuer="builtin")  # type: ignore[arg-type]
    assert repo.current_certificate("www") == record
    assert record.key_ref is not None
    assert repo.private_key_info(record.key_ref).kind == "certificate"
    actions = [e.action for e in repo.list_audit(limit=2)]
    assert actions == ["certificate.add", "key.store"]


def test_received_request_is_marked(repo: Repository) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    repo.save_definition(_definition("www"))
    pem, key = make_cert()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www")]))
           .sign(key, hashes.SHA256()))  # type: ignore[arg-type]
    request = repo.create_request("www", key,  # type: ignore[arg-type]
                                  csr.public_bytes(serialization.Encoding.PEM).decode())
    record = repo.add_certificate("www", pem, key_ref=request.key_ref, request_id=request.id)
    assert record.version == 1 and record.key_ref == request.key_ref
    assert repo.list_requests() == []
    [done] = repo.list_requests(state=RequestState.RECEIVED)
    assert done.id == request.id


def test_sqlite_is_wal_with_normal_sync(repo_home: Path) -> None:
    repo = open_repository(None, repo_home)
    try:
        tx = repo._db.read()
        assert tx.scalar("PRAGMA journal_mode") == "wal"
        assert tx.scalar("PRAGMA synchronous") == 1  # NORMAL
    finally:
        repo.close()


def test_first_certificate_key_creates_the_master_key(repo_home: Path) -> None:
    # restore opens without a master key; the first key stored must still create one.
    repo = open_repository(None, repo_home, init_master_key=False)
    try:
        repo.save_definition(_definition("www"))
        assert repo.master_key_info()["mode"] == "none"
        pem, key = make_cert()
        record = repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
        assert repo.master_key_info()["mode"] == "file"
        assert record.key_ref is not None
        assert repo.load_private_key(record.key_ref, reason="test")
    finally:
        repo.close()
