"""Column values computed from certificates and keys, and the audit actor."""

from __future__ import annotations

import getpass
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.errors import InputError
from certmgr.repository.records import CertificateState

__all__ = ["cert_sans", "certificate_values", "default_actor", "describe_key", "key_bytes",
           "key_identity", "load_cert", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_actor() -> str:
    """The local user running certmgr, as audit events name it."""
    try:
        return f"user:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"uid:{os.geteuid()}"


def load_cert(cert_pem: str, definition: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        raise InputError(f"certificate for {definition}: not a PEM certificate") from None


def cert_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    return names


def certificate_values(cert: x509.Certificate, cert_pem: str, chain_pem: str,
                       issuer: str | None) -> dict[str, Any]:
    """The ``certificates`` columns a certificate determines (the caller adds the rest)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"serial": f"{cert.serial_number:x}", "sha256": hashlib.sha256(der).hexdigest(),
            "subject": cert.subject.rfc4514_string(), "sans": cert_sans(cert),
            "not_before": cert.not_valid_before_utc, "not_after": cert.not_valid_after_utc,
            "issuer": issuer or cert.issuer.rfc4514_string(), "cert_pem": cert_pem,
            "chain_pem": chain_pem, "state": CertificateState.CURRENT.value,
            "created": utcnow()}


def key_identity(ref: str) -> str:
    return f"private_keys/{ref}"


def key_bytes(key: bytes | PrivateKeyTypes) -> tuple[bytes, PrivateKeyTypes | None]:
    if isinstance(key, bytes):
        return key, _parse(key)
    data = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    return data, key


def _parse(data: bytes) -> PrivateKeyTypes | None:
    # Bytes may be any key file (even an encrypted one); describing it is best effort.
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError):
        return None


_ALGORITHMS: list[tuple[type[Any], str]] = [
    (rsa.RSAPrivateKey, "rsa"), (ec.EllipticCurvePrivateKey, "ec"),
    (ed25519.Ed25519PrivateKey, "ed25519"), (ed448.Ed448PrivateKey, "ed448"),
    (dsa.DSAPrivateKey, "dsa"), (x25519.X25519PrivateKey, "x25519"),
    (x448.X448PrivateKey, "x448"),
]


def describe_key(key: PrivateKeyTypes | None) -> tuple[str | None, str | None]:
    """``(algorithm, sha256 of the SubjectPublicKeyInfo)`` for a key, to match certificates."""
    if key is None:
        return None, None
    name = next((n for cls, n in _ALGORITHMS if isinstance(key, cls)), None)
    if isinstance(key, rsa.RSAPrivateKey):
        name = f"rsa{key.key_size}"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        name = f"ec-{key.curve.name}"
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return name, hashlib.sha256(spki).hexdigest()
