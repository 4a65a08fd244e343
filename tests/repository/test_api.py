"""Repository round trips, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from certmgr.errors import InputError, NotFound
from certmgr.models import Endpoint, TlsMode
from certmgr.repository import (
    BackupFile,
    CertificateState,
    DefinitionRecord,
    DeploymentState,
    HostKind,
    IssuerKind,
    ObservationRecord,
    Repository,
    RequestState,
    open_repository,
)
from tests.repository.conftest import make_cert

DISCOVERY = [
    {"kind": "apache2", "config": "/etc/apache2/apache2.conf", "user": "root",
     "slots": [
         {"id": "apache2:default-ssl", "config": "/etc/apache2/sites-enabled/default-ssl.conf",
          "names": ["www.example.org"],
          "endpoints": [{"address": "*", "port": 443, "tls": "direct", "sni": None}],
          "cert": "/etc/apache2/ssl/certs/www.crt", "key": "/etc/apache2/ssl/private/www.key",
          "chain": "/etc/apache2/ssl/certs/www-chain.crt", "ca": None, "keystore": None,
          "keystore_type": None}]},
    {"kind": "postfix", "config": "/etc/postfix/main.cf", "user": "root",
     "slots": [
         {"id": "postfix:smtpd", "config": "/etc/postfix/main.cf", "names": ["mail.example.org"],
          "endpoints": [{"address": "127.0.0.1", "port": 25, "tls": "starttls-smtp",
                         "sni": None},
                        {"address": "127.0.0.1", "port": 465, "tls": "direct", "sni": None}],
          "cert": "/etc/postfix/ssl/certs/mail.crt", "key": "/etc/postfix/ssl/private/mail.key",
          "chain": None, "ca": None, "keystore": None, "keystore_type": None,
          "master_cf_service": "smtps"}]},
]


def _definition(name: str = "www", **changes: object) -> DefinitionRecord:
    base = DefinitionRecord(name=name, cn="www.example.org",
                            sans=("www.example.org", "example.org"), key_type="ec256",
                            validity=timedelta(days=90), issuer="ca",
                            renew_before=timedelta(days=30),
                            targets=("apache2:default-ssl", "web2/nginx:main"))
    from dataclasses import replace
    return replace(base, **changes)  # type: ignore[arg-type]


def test_hosts_upsert_get_list_delete(repo: Repository) -> None:
    repo.upsert_host("web2", HostKind.SSH, "admin@198.18.0.2:22", {"sudo": True})
    repo.upsert_host("web2", "ssh", "admin@198.18.0.2:2222")
    repo.upsert_host("local")
    host = repo.get_host("web2")
    assert (host.kind, host.address, host.params) == (HostKind.SSH, "admin@198.18.0.2:2222", {})
    assert [h.name for h in repo.list_hosts()] == ["local", "web2"]
    repo.delete_host("web2")
    with pytest.raises(NotFound, match="web2"):
        repo.get_host("web2")


def test_discovery_round_trip_and_replacement(repo: Repository) -> None:
    assert repo.save_discovery("local", DISCOVERY) == 2
    slots = repo.list_slots("local")
    assert [s.slot_id for s in slots] == ["apache2:default-ssl", "postfix:smtpd"]
    smtp = repo.get_slot("postfix:smtpd")
    assert smtp.service_kind == "postfix" and smtp.key == "/etc/postfix/ssl/private/mail.key"
    assert smtp.endpoints == (Endpoint("127.0.0.1", 25, TlsMode.STARTTLS_SMTP),
                              Endpoint("127.0.0.1", 465, TlsMode.DIRECT))
    assert smtp.data == {"master_cf_service": "smtps"}
    assert [s.kind for s in repo.list_services("local")] == ["apache2", "postfix"]
    assert [s.slot_id for s in repo.find_slots_by_endpoint("127.0.0.1", 443)] == \
        ["apache2:default-ssl"]
    # A new discovery replaces the old one entirely.
    repo.save_discovery("local", DISCOVERY[:1])
    assert [s.slot_id for s in repo.list_slots()] == ["apache2:default-ssl"]
    with pytest.raises(NotFound):
        repo.get_slot("local/postfix:smtpd")


def test_discovery_rejects_bad_endpoint_and_changes_nothing(repo: Repository) -> None:
    repo.save_discovery("local", DISCOVERY)
    bad = [{"kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root",
            "slots": [{"id": "nginx:x", "endpoints": [{"address": "*", "port": 0}]}]}]
    with pytest.raises(InputError, match="nginx:x"):
        repo.save_discovery("local", bad)
    assert len(repo.list_slots()) == 2


def test_definitions_crud_and_target_lookup(repo: Repository) -> None:
    saved = repo.save_definition(_definition())
    assert saved.created is not None and saved.validity == timedelta(days=90)
    repo.save_definition(_definition("mail", cn="mail.example.org",
                                     targets=("local/postfix:smtpd",)))
    assert [d.name for d in repo.definitions_for_target("local/apache2:default-ssl")] == ["www"]
    assert [d.name for d in repo.definitions_for_target("web2/nginx:main")] == ["www"]
    assert [d.name for d in repo.definitions_for_target("postfix:smtpd")] == ["mail"]
    repo.save_definition(_definition(targets=("web3/nginx:main",), key_type="rsa3072"))
    assert repo.definitions_for_target("web2/nginx:main") == []
    assert repo.get_definition("www").key_type == "rsa3072"
    assert [d.name for d in repo.list_definitions()] == ["mail", "www"]
    repo.delete_definition("mail")
    with pytest.raises(NotFound):
        repo.get_definition("mail")
    with pytest.raises(InputError, match="key type"):
        repo.save_definition(_definition(key_type="rsa1024"))


def test_certificate_versions(repo: Repository) -> None:
    repo.save_definition(_definition())
    pem1, key1 = make_cert(days=10)
    pem2, key2 = make_cert(days=90)
    first = repo.add_certificate("www", pem1, key=key1, issuer="ca")  # type: ignore[arg-type]
    second = repo.add_certificate("www", pem2, chain_pem=pem1, key=key2)  # type: ignore[arg-type]
    assert (first.version, second.version) == (1, 2)
    assert repo.get_certificate("www", 1).state is CertificateState.SUPERSEDED
    current = repo.current_certificate("www")
    assert current is not None and current.version == 2 and current.chain_pem == pem1
    assert current.sans == ("www.example.org", "example.org")
    cert = x509.load_pem_x509_certificate(pem2.encode())
    assert current.not_after == cert.not_valid_after_utc
    serial = f"{cert.serial_number:X}"
    found = repo.certificate_by_serial(serial)
    assert found is not None and found.version == 2
    assert repo.certificate_by_fingerprint(current.sha256.upper()) == current
    assert [c.version for c in repo.list_certificates()] == [2]
    assert [c.version for c in repo.list_certificates(current_only=False)] == [1, 2]
    assert repo.list_certificates(expiring_within=timedelta(days=30)) == []
    assert [c.version for c in repo.list_certificates(
        expiring_within=timedelta(days=30), current_only=False)] == [1]
    repo.revoke_certificate("www", 2, reason="key compromise")
    assert repo.get_certificate("www", 2).state is CertificateState.REVOKED
    assert current.key_ref is not None
    loaded = serialization.load_der_private_key(
        repo.load_private_key(current.key_ref, reason="test"), None)
    assert loaded.public_key() == key2.public_key()  # type: ignore[attr-defined]


def test_issuer_keys_encrypted_and_replaced_per_role(repo: Repository) -> None:
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    pem, _ = make_cert("Test CA", key=inter_key)
    issuer = repo.save_issuer("ca", IssuerKind.BUILTIN, config={"path_length": 0},
                              certificates_pem=pem,
                              keys={"root": root_key, "intermediate": inter_key})
    assert set(issuer.keys) == {"root", "intermediate"}
    again = repo.save_issuer("ca", "builtin", certificates_pem=pem,
                             keys={"intermediate": ec.generate_private_key(ec.SECP256R1())})
    assert again.keys["root"] == issuer.keys["root"]
    assert again.keys["intermediate"] != issuer.keys["intermediate"]
    assert repo.get_issuer("ca").config == {}
    assert repo.private_key_info(issuer.keys["root"]).algorithm == "ec-secp384r1"
    assert [i.name for i in repo.list_issuers()] == ["ca"]


def test_requests_pending_then_received(repo: Repository) -> None:
    repo.save_definition(_definition())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.org")]))
           .sign(key, hashes.SHA256()))
    req = repo.create_request("www", key, csr.public_bytes(serialization.Encoding.PEM).decode())
    assert req.state is RequestState.PENDING
    assert repo.private_key_info(req.key_ref).public_key_sha256 == req.public_key_sha256
    assert [r.id for r in repo.list_requests()] == [req.id]
    pem, _ = make_cert(key=key)
    repo.add_certificate("www", pem, key_ref=req.key_ref, request_id=req.id)
    assert repo.list_requests() == []
    assert repo.list_requests(state=RequestState.RECEIVED)[0].id == req.id
    cert = repo.current_certificate("www")
    assert cert is not None and cert.key_ref == req.key_ref


def test_deployments_with_backup(repo: Repository) -> None:
    repo.save_definition(_definition())
    pem, key = make_cert()
    repo.add_certificate("www", pem, key=key)  # type: ignore[arg-type]
    dep = repo.create_deployment("www", 1, "apache2:default-ssl")
    assert (dep.host, dep.state, dep.finished) == ("local", DeploymentState.PLANNED, None)
    old_key = b"-----BEGIN PRIVATE KEY-----\nold\n-----END PRIVATE KEY-----\n"
    backup = [BackupFile("/etc/apache2/ssl/certs/www.crt", "root", "root", 0o644,
                         data=b"old cert"),
              BackupFile("/etc/apache2/ssl/private/www.key", "root", "root", 0o600,
                         data=old_key, secret=True),
              BackupFile("/etc/apache2/ssl/certs/www-chain.crt", "root", "root", 0o644,
                         existed=False)]
    repo.update_deployment(dep.id, DeploymentState.PREFLIGHT)
    repo.update_deployment(dep.id, "applied", backup=backup)
    assert [d.id for d in repo.unfinished_deployments()] == [dep.id]
    done = repo.update_deployment(dep.id, DeploymentState.ROLLED_BACK, reason="handshake failed")
    assert done.finished is not None and done.reason == "handshake failed"
    assert repo.unfinished_deployments() == []
    files = repo.get_deployment(dep.id).backup
    assert files[0].data == b"old cert" and files[0].key_ref is None
    assert files[1].data is None and files[1].key_ref is not None and files[1].mode == 0o600
    assert repo.load_private_key(files[1].key_ref, reason="rollback") == old_key
    assert files[2].existed is False
    assert [d.id for d in repo.deployment_history("local/apache2:default-ssl")] == [dep.id]


def test_observations_bounded_and_latest(repo: Repository) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(7):
        repo.add_observation(ObservationRecord("127.0.0.1", 443, "direct",
                                               t0 + timedelta(minutes=i), ok=i % 2 == 0,
                                               chain_sha256=("aa", "bb"), leaf_sha256="aa",
                                               findings=({"code": "x"},)), keep=5)
    repo.add_observation(ObservationRecord("127.0.0.1", 25, "starttls-smtp", t0, ok=False,
                                           error="connection refused"))
    history = repo.observation_history("127.0.0.1", 443, "direct")
    assert [o.time.minute for o in history] == [6, 5, 4, 3, 2]
    assert history[0].chain_sha256 == ("aa", "bb") and history[0].findings == ({"code": "x"},)
    latest = {(o.port, o.time.minute) for o in repo.latest_observations()}
    assert latest == {(443, 6), (25, 0)}


def test_users_and_passwords(repo: Repository) -> None:
    repo.save_user("alice", "admin", "correct horse")
    assert repo.check_password("alice", "correct horse") is not None
    assert repo.check_password("alice", "wrong") is None
    repo.save_user("alice", "viewer", disabled=True)
    assert repo.get_user("alice").role == "viewer"
    assert repo.check_password("alice", "correct horse") is None
    with pytest.raises(InputError):
        repo.save_user("bob", "viewer")
    repo.delete_user("alice")
    assert repo.list_users() == []


def test_key_reads_are_audited_without_key_material(repo: Repository) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    ref = repo.store_private_key(key, kind="certificate")
    repo.load_private_key(ref, reason="deploy www to apache2:default-ssl", actor="user:test")
    reads = repo.list_audit(action="key.read")
    assert len(reads) == 1
    event = reads[0]
    assert (event.actor, event.object) == ("user:test", f"key:{ref}")
    assert event.detail["reason"] == "deploy www to apache2:default-ssl"
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    assert der.hex() not in repr(repo.list_audit())


def test_records_survive_reopen(db_url: str | None, repo_home: Path) -> None:
    with open_repository(db_url, repo_home) as first:
        first.save_definition(_definition())
        pem, key = make_cert()
        ref = first.add_certificate("www", pem, key=key).key_ref  # type: ignore[arg-type]
    with open_repository(db_url, repo_home) as second:
        assert second.get_definition("www").targets == _definition().targets
        assert ref is not None and second.load_private_key(ref, reason="test")


def test_every_record_serialises_to_json(repo: Repository) -> None:
    import json

    from tests.repository.fill import populate

    populate(repo)
    dep = repo.deployment_history("local/nginx:www")[0]
    records = [*repo.list_hosts(), *repo.list_services(), *repo.list_slots(),
               *repo.list_definitions(), *repo.list_issuers(),
               *repo.list_requests(state=None), *repo.list_certificates(current_only=False),
               dep, *repo.latest_observations(), *repo.list_users(), *repo.list_audit()]
    assert len({type(r).__name__ for r in records}) == 11
    for record in records:
        text = json.dumps(record.to_json())
        assert "BEGIN PRIVATE KEY" not in text
    backup = dep.to_json()["backup"]
    assert backup[0]["size"] == len(b"old cert") and "data" not in backup[0]
    assert backup[1]["key_ref"] and backup[1]["secret"] is True
