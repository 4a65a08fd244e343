"""Private keys: the key types certmgr issues, generation, identity and matching.

A key and a certificate belong together when their public keys are the same;
:func:`public_key_id` (SHA-256 of the SubjectPublicKeyInfo) is the value that
says so, and it is what matching, ``receive`` and checks compare.
"""

from __future__ import annotations

import hashlib
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    PrivateKeyTypes,
    PublicKeyTypes,
)

from certmgr.errors import PKIError

__all__ = [
    "KeyType",
    "PrivateKey",
    "generate_key",
    "key_description",
    "key_type_of",
    "keys_match",
    "public_key_id",
    "signing_key",
]

# The private keys certmgr can sign with or put in a certificate (server programs
# and PKCS#12 take no others).
PrivateKey = (rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
              | ed448.Ed448PrivateKey | dsa.DSAPrivateKey)


class KeyType(str, Enum):
    """A key algorithm and size, as definitions name it (``--key ec256``)."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    RSA4096 = "rsa4096"
    EC256 = "ec256"
    EC384 = "ec384"
    ED25519 = "ed25519"

    @classmethod
    def parse(cls, text: str) -> KeyType:
        """``ec256``, ``EC-256``, ``p256``, ``rsa:2048``, ``rsa`` (= 2048) -> KeyType.

        Raises:
            PKIError: the text names no key type certmgr issues.
        """
        norm = text.strip().lower().replace("-", "").replace(":", "").replace("_", "")
        norm = _ALIASES.get(norm, norm)
        try:
            return cls(norm)
        except ValueError:
            choices = ", ".join(k.value for k in cls)
            raise PKIError(f"unknown key type {text!r}: use one of {choices}") from None

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("rsa")


_ALIASES = {
    "rsa": "rsa2048",
    "p256": "ec256",
    "prime256v1": "ec256",
    "secp256r1": "ec256",
    "ecdsa256": "ec256",
    "ecdsap256": "ec256",
    "ecp256": "ec256",
    "p384": "ec384",
    "secp384r1": "ec384",
    "ecdsa384": "ec384",
    "ecdsap384": "ec384",
    "ecp384": "ec384",
    "ec": "ec256",
    "ecdsa": "ec256",
}


def generate_key(key_type: KeyType) -> PrivateKey:
    """A new private key of ``key_type``."""
    if key_type.is_rsa:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.value[3:]))
    if key_type is KeyType.EC256:
        return ec.generate_private_key(ec.SECP256R1())
    if key_type is KeyType.EC384:
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: PrivateKeyTypes | PublicKeyTypes) -> KeyType | None:
    """The :class:`KeyType` of a key, or None if certmgr does not issue that kind."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, rsa.RSAPublicKey):
        return {2048: KeyType.RSA2048, 3072: KeyType.RSA3072, 4096: KeyType.RSA4096}.get(
            public.key_size
        )
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": KeyType.EC256, "secp384r1": KeyType.EC384}.get(public.curve.name)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    return None


def key_description(key: PrivateKeyTypes | PublicKeyTypes) -> str:
    """``RSA 2048``, ``EC secp256r1``, ``Ed25519``...: for tables and messages."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, rsa.RSAPublicKey):
        return f"RSA {public.key_size}"
    if isinstance(public, ec.EllipticCurvePublicKey):
        return f"EC {public.curve.name}"
    if isinstance(public, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public, dsa.DSAPublicKey):
        return f"DSA {public.key_size}"
    return type(public).__name__


def _public(
    obj: PrivateKeyTypes | PublicKeyTypes | x509.Certificate | x509.CertificateSigningRequest,
) -> PublicKeyTypes:
    if isinstance(obj, (x509.Certificate, x509.CertificateSigningRequest)):
        return obj.public_key()
    if hasattr(obj, "public_key"):
        return obj.public_key()
    return obj


def public_key_id(
    obj: PrivateKeyTypes | PublicKeyTypes | x509.Certificate | x509.CertificateSigningRequest,
) -> str:
    """SHA-256 (hex) of the SubjectPublicKeyInfo of a key, certificate or CSR.

    Equal ids mean the same key pair: this is how a key is matched to its certificate.
    """
    der = _public(obj).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def keys_match(
    a: PrivateKeyTypes | PublicKeyTypes | x509.Certificate | x509.CertificateSigningRequest,
    b: PrivateKeyTypes | PublicKeyTypes | x509.Certificate | x509.CertificateSigningRequest,
) -> bool:
    """True if ``a`` and ``b`` carry the same public key (key vs certificate, CSR...)."""
    return public_key_id(a) == public_key_id(b)


def signing_key(key: PrivateKeyTypes, source: str = "key") -> PrivateKey:
    """``key`` narrowed to a type that can sign or be certified.

    Raises:
        PKIError: the key is of a kind (X25519, DH...) certificates cannot use.
    """
    if isinstance(
        key,
        (
            rsa.RSAPrivateKey,
            ec.EllipticCurvePrivateKey,
            ed25519.Ed25519PrivateKey,
            ed448.Ed448PrivateKey,
            dsa.DSAPrivateKey,
        ),
    ):
        return key
    raise PKIError(f"{source}: a {type(key).__name__} cannot be used for a server certificate")

