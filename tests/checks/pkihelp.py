"""Small test PKIs for the checks' tests: built with cryptography, never with openssl."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from certmgr.pki import issue_ca, issue_server, self_signed_root, subject_name

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class DemoPKI:
    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    inter: x509.Certificate
    inter_key: ec.EllipticCurvePrivateKey

    def leaf(self, names: list[str], *, days: int = 90, now: dt.datetime = NOW,
             key: ec.EllipticCurvePrivateKey | None = None,
             ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = key or ec_key()
        cert = issue_server(self.inter, self.inter_key, key.public_key(), names,
                            dt.timedelta(days=days), now=now)
        return cert, key


def make_pki(now: dt.datetime = NOW) -> DemoPKI:
    root_key, inter_key = ec_key(), ec_key()
    root = self_signed_root(root_key, subject_name("Test Root CA"), dt.timedelta(days=3650),
                            now=now - dt.timedelta(days=10))
    inter = issue_ca(root, root_key, inter_key.public_key(), subject_name("Test Issuing CA"),
                     dt.timedelta(days=1825), now=now - dt.timedelta(days=5))
    return DemoPKI(root, root_key, inter, inter_key)


def seed_snakeoil(cn: str = "ldap.example.com", *, bits: int = 1024, now: dt.datetime = NOW,
                  ) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Like the seed's ``openssl req -x509 -nodes -days 365 -newkey rsa:1024``: CN only, no SAN.

    Signed with SHA-256 (cryptography refuses SHA-1); the SHA-1 original is the static
    fixture ``tests/fixtures/certs/seed-snakeoil.pem``.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=364))
            .sign(key, hashes.SHA256()))
    return cert, key


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
            password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)
