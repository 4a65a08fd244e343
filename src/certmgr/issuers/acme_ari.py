"""ACME renewal timing: the ARI certificate id, a time inside the CA's window (RFC 9773),
and the fallback schedule when the CA gives none.

Pure functions of certificates and times (no network): the schedule reads what
``issue`` stored in the definition's ``data["acme_state"]``.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the schedule imports this module for `certmgr list`: stay light
    from cryptography import x509

__all__ = ["ari_cert_id", "fallback_renew_at", "pick_in_window", "stored_renew_at"]

SHORT_LIFETIME = dt.timedelta(days=10)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def ari_cert_id(cert: x509.Certificate) -> str:
    """RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(serial DER bytes)."""
    from cryptography import x509

    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    if aki.key_identifier is None:
        raise ValueError("the certificate's Authority Key Identifier has no keyIdentifier")
    serial = cert.serial_number
    # The DER INTEGER's content octets: big-endian, with a leading zero if the top bit is set.
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")
    return f"{_b64(aki.key_identifier)}.{_b64(serial_bytes)}"


def pick_in_window(start: dt.datetime, end: dt.datetime, now: dt.datetime,
                   rng: random.Random | None = None) -> dt.datetime:
    """RFC 9773 section 4.2: a uniformly random time in [start, end); a window already
    over (end in the past) means renew now."""
    if end <= now:
        return now
    if end <= start:
        return start
    span = (end - start).total_seconds()
    return start + dt.timedelta(seconds=(rng or random.SystemRandom()).uniform(0, span))


def fallback_renew_at(not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
    """Without ARI: renew when one third of the lifetime is left (one half for lifetimes
    under 10 days), never by a fixed 30 days."""
    lifetime = not_after - not_before
    left = lifetime / 2 if lifetime < SHORT_LIFETIME else lifetime / 3
    return not_after - left


def _time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def stored_renew_at(state: Mapping[str, Any], sha256: str) -> dt.datetime | None:
    """The renewal time stored for the certificate ``sha256`` (ARI's pick), or None."""
    if state.get("sha256") != sha256:
        return None
    return _time(state.get("renew_at"))
