"""The one renewal-state function: where a certificate stands against its renewal window.

``certmgr list``, ``certmgr status`` and the monitor's renewals all judge a
certificate by :func:`renewal_state` and :func:`renew_at`; an issuer with a
schedule of its own (ACME's renewal information) changes it here, once.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from certmgr.issuers.acme_ari import fallback_renew_at, stored_renew_at
from certmgr.issuers.definitions import DEFAULT_RENEW_BEFORE
from certmgr.repository.records import CertificateRecord, CertificateState, DefinitionRecord

__all__ = ["RenewalState", "renew_at", "renewal_state"]


class RenewalState(str, Enum):
    """Where a definition's certificate stands; the values are what ``list`` prints."""

    NONE = "none"          # no certificate and no request
    PENDING = "pending"    # no certificate, a request waits for the CA's answer
    VALID = "valid"        # before its renewal window
    RENEW = "renew"        # inside its renewal window: renewal is due
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def due(self) -> bool:
        """True when the certificate should be renewed now."""
        return self in (RenewalState.RENEW, RenewalState.EXPIRED)


def renew_at(certificate: CertificateRecord,
             definition: DefinitionRecord | None) -> dt.datetime:
    """When the renewal window of ``certificate`` opens.

    Built-in and external CAs: the definition's ``renew_before`` ahead of expiry (30
    days for a certificate whose definition is gone). ACME, unless ``--renew-before``
    was given: the time picked inside the CA's ARI window (RFC 9773), else one third of
    the lifetime left (one half for lifetimes under 10 days).
    """
    acme = definition.data.get("acme") if definition is not None else None
    if isinstance(acme, dict) and not acme.get("renew_before_set"):
        assert definition is not None
        state = definition.data.get("acme_state")
        picked = (stored_renew_at(state, certificate.sha256) if isinstance(state, dict)
                  else None)
        if picked is not None:
            return picked
        return fallback_renew_at(certificate.not_before, certificate.not_after)
    before = definition.renew_before if definition is not None else DEFAULT_RENEW_BEFORE
    return certificate.not_after - before


def renewal_state(certificate: CertificateRecord | None, definition: DefinitionRecord | None,
                  now: dt.datetime, *, requested: bool = False,
                  revocation: bool = True) -> RenewalState:
    """Judge ``certificate`` (the current one of ``definition``) at ``now``.

    Args:
        certificate: the current certificate, or None if none was issued yet.
        definition: its definition (None: judged with the default window).
        now: the time of judgement (aware, UTC).
        requested: without a certificate, whether a request is pending.
        revocation: False judges a revoked certificate by its dates alone (``status``
            has always done so; its problems say nothing about revocation).
    """
    if certificate is None:
        return RenewalState.PENDING if requested else RenewalState.NONE
    if revocation and certificate.state is CertificateState.REVOKED:
        return RenewalState.REVOKED
    if certificate.not_after <= now:
        return RenewalState.EXPIRED
    if renew_at(certificate, definition) <= now:
        return RenewalState.RENEW
    return RenewalState.VALID
