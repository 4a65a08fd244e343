"""The lab's initial credentials: self-signed certificates, a JKS keystore, SSH keys.

Like the seed's snakeoil pair, every certificate here is self-signed (its own
issuer and trust anchor). They are made with ``cryptography`` only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import jks
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

__all__ = ["SelfSigned", "SshKey", "jks_keystore", "self_signed", "ssh_key"]

_VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate and its unencrypted key, PEM encoded."""

    common_name: str
    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the certificate's DER, as probes report it."""
        return hashlib.sha256(self.cert_der).hexdigest()


def self_signed(common_name: str, names: tuple[str, ...] = (), *, bits: int = 2048) -> SelfSigned:
    """A fresh RSA key and a self-signed server certificate for ``common_name`` (+ ``names``).

    The subject alternative names hold ``common_name`` first, then ``names``.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certmgr lab")])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sans = [x509.DNSName(n) for n in dict.fromkeys((common_name, *names))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return SelfSigned(common_name, cert.public_bytes(serialization.Encoding.PEM), key_pem,
                      cert.public_bytes(serialization.Encoding.DER))


def jks_keystore(cred: SelfSigned, *, alias: str, password: str) -> bytes:
    """A JKS keystore holding ``cred`` as one private-key entry (what Tomcat's seed setup used)."""
    key = serialization.load_pem_private_key(cred.key_pem, password=None)
    pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    entry = jks.PrivateKeyEntry.new(alias, [cred.cert_der], pkcs8, "pkcs8")
    store = jks.KeyStore.new("jks", [entry])
    data: bytes = store.saves(password)
    return data


@dataclass(frozen=True)
class SshKey:
    """An Ed25519 key pair in OpenSSH formats."""

    private_openssh: bytes
    public_line: str  # "ssh-ed25519 AAAA..."


def ssh_key(comment: str) -> SshKey:
    """A fresh Ed25519 key pair; ``comment`` ends the public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return SshKey(private, f"{public} {comment}")
