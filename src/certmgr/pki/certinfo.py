"""Facts about a certificate, in the form tables, JSON and checks use."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.pki.keys import key_description, public_key_id
from certmgr.pki.names import names_of

__all__ = [
    "CertInfo",
    "describe",
    "fingerprint_sha256",
    "format_fingerprint",
    "is_ca",
    "is_self_issued",
    "not_after",
    "not_before",
]


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, lower-case hex without separators."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def format_fingerprint(hex_digest: str) -> str:
    """``AB:CD:...`` as OpenSSL and browsers print it."""
    return ":".join(hex_digest[i:i + 2] for i in range(0, len(hex_digest), 2)).upper()


def not_before(cert: x509.Certificate) -> dt.datetime:
    """Start of validity, timezone-aware (UTC)."""
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> dt.datetime:
    """End of validity, timezone-aware (UTC)."""
    return cert.not_valid_after_utc


def is_ca(cert: x509.Certificate) -> bool:
    """True if basicConstraints says CA:TRUE."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return False


def is_self_issued(cert: x509.Certificate) -> bool:
    """True if subject and issuer are the same name (a root, usually)."""
    return cert.subject == cert.issuer


@dataclass(frozen=True)
class CertInfo:
    """A certificate summarised: what ``show``, ``list --json`` and findings print."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint_sha256: str
    public_key_id: str
    key: str
    common_name: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    is_ca: bool
    self_issued: bool

    def days_left(self, now: dt.datetime | None = None) -> int:
        """Whole days until expiry (negative once expired)."""
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now) // dt.timedelta(days=1)

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint_sha256": self.fingerprint_sha256,
            "public_key_id": self.public_key_id,
            "key": self.key,
            "common_name": self.common_name,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "is_ca": self.is_ca,
            "self_issued": self.self_issued,
        }


def describe(cert: x509.Certificate) -> CertInfo:
    """The :class:`CertInfo` of ``cert``."""
    names = names_of(cert)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=not_before(cert),
        not_after=not_after(cert),
        fingerprint_sha256=fingerprint_sha256(cert),
        public_key_id=public_key_id(cert),
        key=key_description(cert.public_key()),
        common_name=names.common_name,
        dns_names=names.dns,
        ip_addresses=names.ips,
        is_ca=is_ca(cert),
        self_issued=is_self_issued(cert),
    )
