"""Fill a repository with one of everything, keys in every form; used by several tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmgr.repository import (
    BackupFile,
    DefinitionRecord,
    DeploymentState,
    HostKind,
    IssuerKind,
    ObservationRecord,
    Repository,
)
from tests.repository.conftest import make_cert

DISCOVERY = [{"kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root", "slots": [
    {"id": "nginx:www", "config": "/etc/nginx/sites-enabled/www", "names": ["www.example.org"],
     "endpoints": [{"address": "127.0.0.1", "port": 8443, "tls": "direct",
                    "sni": "www.example.org"}],
     "cert": "/etc/nginx/ssl/certs/www.crt", "key": "/etc/nginx/ssl/private/www.key",
     "chain": None, "ca": None, "keystore": None, "keystore_type": None}]}]


@dataclass
class Filled:
    """The plaintext forms of every key stored, to search for and to compare."""

    secrets: list[bytes] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)


def _forms(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> list[bytes]:
    nope = serialization.NoEncryption()
    enc, fmt = serialization.Encoding, serialization.PrivateFormat
    return [key.private_bytes(enc.DER, fmt.PKCS8, nope),
            key.private_bytes(enc.PEM, fmt.PKCS8, nope),
            key.private_bytes(enc.DER, fmt.TraditionalOpenSSL, nope),
            key.private_bytes(enc.PEM, fmt.TraditionalOpenSSL, nope)]


def populate(repo: Repository) -> Filled:
    """One row in every table; RSA and EC keys stored as objects, PEM and DER bytes."""
    filled = Filled()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ca_key = ec.generate_private_key(ec.SECP384R1())
    for key in (rsa_key, ec_key, ca_key):
        filled.secrets += _forms(key)
    rsa_forms, ec_forms = _forms(rsa_key), _forms(ec_key)
    # the same keys as bytes in each form, as a deploy backup or an import would store them
    for data in (rsa_forms[1], rsa_forms[2], ec_forms[3], ec_forms[0]):
        filled.refs.append(repo.store_private_key(data, kind="import"))

    repo.upsert_host("local", HostKind.LOCAL)
    repo.upsert_host("web2", HostKind.SSH, "admin@198.18.0.2:22", {"port": 22})
    repo.save_discovery("local", DISCOVERY)
    ca_pem, _ = make_cert("Test CA", key=ca_key)
    issuer = repo.save_issuer("ca", IssuerKind.BUILTIN, certificates_pem=ca_pem,
                              keys={"root": ca_key}, config={"validity_days": 3650})
    filled.refs += list(issuer.keys.values())
    repo.save_definition(DefinitionRecord(name="www", cn="www.example.org",
                                          sans=("www.example.org",), key_type="rsa2048",
                                          issuer="ca", targets=("nginx:www",)))
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.org")]))
           .sign(rsa_key, hashes.SHA256()))
    req = repo.create_request("www", rsa_key, csr.public_bytes(serialization.Encoding.PEM).decode())
    pem, _ = make_cert(key=rsa_key)
    cert = repo.add_certificate("www", pem, chain_pem=ca_pem, key=rsa_key, request_id=req.id)
    assert cert.key_ref is not None
    filled.refs += [req.key_ref, cert.key_ref]
    dep = repo.create_deployment("www", 1, "nginx:www")
    repo.update_deployment(dep.id, DeploymentState.APPLIED, backup=[
        BackupFile("/etc/nginx/ssl/certs/www.crt", "root", "root", 0o644, data=b"old cert"),
        BackupFile("/etc/nginx/ssl/private/www.key", "root", "root", 0o600,
                   data=ec_forms[1], secret=True)])
    repo.update_deployment(dep.id, DeploymentState.VERIFIED)
    repo.add_observation(ObservationRecord("127.0.0.1", 8443, "direct",
                                           datetime(2026, 1, 1, tzinfo=UTC), ok=True,
                                           sni="www.example.org", chain_sha256=(cert.sha256,),
                                           leaf_sha256=cert.sha256,
                                           not_after=cert.not_after + timedelta(0)))
    repo.save_user("admin", "admin", "s3cret password")
    repo.load_private_key(cert.key_ref, reason="fill: audited read")
    return filled
