"""Serializing certificates and keys in the formats server programs read.

These functions return bytes; the caller writes them (keys with their final
mode from creation: see ``certmgr.deploy`` and the CLI's export). Server keys
are unencrypted PKCS#8 because the programs start unattended.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from certmgr.errors import PKIError
from certmgr.pki.keys import PrivateKey, keys_match

__all__ = [
    "certificate_pem",
    "certificates_pem",
    "combined_pem",
    "crl_pem",
    "csr_pem",
    "encrypted_key_pem",
    "jks_keystore",
    "key_pem",
    "pkcs12_keystore",
]



def certificate_pem(cert: x509.Certificate) -> bytes:
    """One certificate in PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def certificates_pem(certs: Sequence[x509.Certificate]) -> bytes:
    """Several certificates in PEM, in the order given (chain, full chain, CA bundle)."""
    return b"".join(certificate_pem(c) for c in certs)


def key_pem(key: PrivateKey) -> bytes:
    """A private key as unencrypted PKCS#8 PEM (what every server program reads)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def encrypted_key_pem(key: PrivateKey, password: str | bytes) -> bytes:
    """A private key as encrypted PKCS#8 PEM (AES-256, scrypt or PBKDF2 as available)."""
    pw = password.encode("utf-8") if isinstance(password, str) else password
    if not pw:
        raise PKIError("an encrypted key needs a non-empty password")
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(pw))


def combined_pem(cert: x509.Certificate, chain: Sequence[x509.Certificate],
                 key: PrivateKey) -> bytes:
    """haproxy's ``crt`` file: certificate, chain, then the key, in one PEM."""
    _check_pair(cert, key)
    return certificate_pem(cert) + certificates_pem(chain) + key_pem(key)


def csr_pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


def _check_pair(cert: x509.Certificate, key: PrivateKey) -> None:
    if not keys_match(cert, key):
        raise PKIError(f"the key does not match certificate {cert.subject.rfc4514_string()}")


def pkcs12_keystore(cert: x509.Certificate, chain: Sequence[x509.Certificate],
                    key: PrivateKey, *, alias: str, password: str) -> bytes:
    """A PKCS#12 file (AES-256/PBKDF2 + SHA-256 MAC, as Java 11+ and OpenSSL 3 read)."""
    _check_pair(cert, key)
    if not password:
        raise PKIError("a PKCS#12 keystore needs a non-empty password")
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(10000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256())
                  .build(password.encode("utf-8")))
    return pkcs12.serialize_key_and_certificates(
        alias.encode("utf-8"), key, cert, list(chain) or None, encryption)


def jks_keystore(cert: x509.Certificate, chain: Sequence[x509.Certificate],
                 key: PrivateKey, *, alias: str, password: str) -> bytes:
    """A JKS keystore with one private-key entry ``alias`` (key password = store password)."""
    import jks

    _check_pair(cert, key)
    if len(password) < 6:
        # keytool and Tomcat refuse JKS passwords shorter than six characters
        raise PKIError("a JKS keystore password must be at least 6 characters")
    der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ders = [c.public_bytes(serialization.Encoding.DER) for c in (cert, *chain)]
    entry = jks.PrivateKeyEntry.new(alias, ders, der_key, "pkcs8")
    entry.encrypt(password)
    store = jks.KeyStore.new("jks", [entry])
    data: bytes = store.saves(password)
    return data
