"""Certificate-level checks, the same on files (``check``) and on a served chain (``scan``).

:func:`check_certificates` is the one place the codes EXPIRED, EXPIRING_SOON,
NOT_YET_VALID, SELF_SIGNED, WEAK_KEY, WEAK_SIGNATURE, NAME_MISMATCH,
CHAIN_INCOMPLETE, CHAIN_UNTRUSTED and KEY_MISMATCH are decided.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from certmgr.errors import PKIError
from certmgr.models import Finding, Severity
from certmgr.pki import (
    PrivateKey,
    build_chain,
    certificate_covers,
    fingerprint_sha256,
    key_description,
    keys_match,
    not_after,
    not_before,
)
from certmgr.pki.trust import anchors as trust_anchors

__all__ = ["MIN_EC_BITS", "MIN_RSA_BITS", "Where", "check_certificates"]

MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
_WEAK_HASHES = {"md5": "MD5", "sha1": "SHA-1", "md2": "MD2", "md4": "MD4"}


@dataclass(frozen=True)
class Where:
    """What findings are about: service kind, slot id, and a file path or network target."""

    service: str | None = None
    slot: str | None = None
    path: str | None = None
    target: str | None = None
    chain_path: str | None = None
    key_path: str | None = None

    def finding(self, code: str, severity: Severity, message: str, *,
                path: str | None = None, **detail: Any) -> Finding:
        return Finding(code, severity, message, service=self.service, slot=self.slot,
                       path=None if self.target else (path or self.path), target=self.target,
                       detail=detail)

    @property
    def label(self) -> str:
        return self.target or self.path or "certificate"


def check_certificates(
    chain: Sequence[x509.Certificate],
    *,
    key: PrivateKey | None = None,
    names: Sequence[str] = (),
    names_authoritative: bool = True,
    trust: Sequence[x509.Certificate] | None = None,
    now: dt.datetime | None = None,
    warn_days: int = 30,
    where: Where | None = None,
) -> list[Finding]:
    """Check a certificate chain (leaf first) and optionally its private key.

    Args:
        chain: the leaf certificate followed by the intermediates the program
            sends (as served, or cert file + chain file in order). Extra or
            out-of-order intermediates are tolerated; the leaf must be first.
        key: the private key the program uses; if given, KEY_MISMATCH is checked.
        names: the names the slot or endpoint must answer to (DNS names or IPs).
        names_authoritative: True if ``names`` come from the program's config or
            an operator (a mismatch is an error); False if they are only the
            host's name (a mismatch is a warning).
        trust: what the chain is judged against (the slot's trusted-CA file, or the
            system store plus certmgr's CA roots and ``--ca`` files): its roots are
            the anchors, its other certificates only help build the path
            (:mod:`certmgr.pki.trust`). None skips CHAIN_INCOMPLETE/CHAIN_UNTRUSTED.
        now: the time of the check (default: now, UTC).
        warn_days: EXPIRING_SOON when the leaf expires within this many days.
        where: service, slot, and ``path`` (files) or ``target`` (``host:port``)
            copied into every finding.

    Returns:
        One finding per problem; an empty list means the chain passed every check.
    """
    if not chain:
        return []
    where = where or Where()
    now = now or dt.datetime.now(dt.UTC)
    leaf, rest = chain[0], list(chain[1:])
    findings: list[Finding] = []
    findings += _validity(leaf, rest, now, warn_days, where)
    findings += _strength(leaf, rest, where)
    if _self_signed(leaf):
        findings.append(where.finding(
            "SELF_SIGNED", Severity.WARNING,
            f"{where.label}: the certificate ({_subject(leaf)}) is self-signed; clients will "
            "not trust it unless they trust it explicitly: replace it with a CA-issued one",
            subject=_subject(leaf)))
    findings += _names(leaf, names, names_authoritative, where)
    if key is not None and not keys_match(leaf, key):
        findings.append(where.finding(
            "KEY_MISMATCH", Severity.ERROR,
            f"{where.key_path or where.label}: the private key does not belong to the "
            f"certificate ({_subject(leaf)}): install the key the certificate was issued for",
            path=where.key_path))
    if trust is not None:
        findings += _trust(leaf, rest, list(trust), where)
    return findings


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (UnsupportedAlgorithm, ValueError):
        # cryptography cannot check MD5/SHA-1 signatures: judge those by the names.
        return _weak_hash(cert) is not None
    except (TypeError, InvalidSignature):
        return False
    return True


def _validity(leaf: x509.Certificate, rest: list[x509.Certificate], now: dt.datetime,
              warn_days: int, where: Where) -> list[Finding]:
    out: list[Finding] = []
    for i, cert in enumerate([leaf, *rest]):
        what = "the certificate" if i == 0 else f"chain certificate {_subject(cert)}"
        path = where.path if i == 0 else (where.chain_path or where.path)
        end, start = not_after(cert), not_before(cert)
        if now > end:
            out.append(where.finding(
                "EXPIRED", Severity.ERROR,
                f"{where.label}: {what} expired on {end:%Y-%m-%d} "
                f"({(now - end).days} days ago): renew it", path=path,
                subject=_subject(cert), not_after=end.isoformat()))
        elif now < start:
            out.append(where.finding(
                "NOT_YET_VALID", Severity.ERROR,
                f"{where.label}: {what} is not valid before {start:%Y-%m-%d %H:%M} UTC: check "
                "the clock of the issuer and of this host", path=path,
                subject=_subject(cert), not_before=start.isoformat()))
        elif i == 0 and end - now <= dt.timedelta(days=warn_days):
            days = (end - now) // dt.timedelta(days=1)
            out.append(where.finding(
                "EXPIRING_SOON", Severity.WARNING,
                f"{where.label}: the certificate expires on {end:%Y-%m-%d} (in {days} days, "
                f"within {warn_days}): renew it", path=path,
                subject=_subject(cert), not_after=end.isoformat(), days_left=days))
    return out


def _weak_key(cert: x509.Certificate) -> str | None:
    public = cert.public_key()
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        return f"RSA {public.key_size} bits (minimum {MIN_RSA_BITS})"
    if isinstance(public, dsa.DSAPublicKey):
        return f"DSA {public.key_size} bits (DSA is obsolete for TLS)"
    if isinstance(public, ec.EllipticCurvePublicKey) and public.key_size < MIN_EC_BITS:
        return f"EC {public.key_size} bits (minimum {MIN_EC_BITS})"
    return None


def _weak_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - an unknown algorithm is judged unknown, not weak
        return None
    if isinstance(algorithm, hashes.HashAlgorithm):
        return _WEAK_HASHES.get(algorithm.name.lower())
    return None


def _strength(leaf: x509.Certificate, rest: list[x509.Certificate],
              where: Where) -> list[Finding]:
    out: list[Finding] = []
    for i, cert in enumerate([leaf, *rest]):
        what = "the certificate" if i == 0 else f"chain certificate {_subject(cert)}"
        path = where.path if i == 0 else (where.chain_path or where.path)
        weak = _weak_key(cert)
        if weak:
            out.append(where.finding(
                "WEAK_KEY", Severity.ERROR,
                f"{where.label}: {what} has a weak key: {weak}: reissue it with a new "
                "RSA 2048+ or EC P-256+ key", path=path, key=key_description(cert.public_key())))
        # A self-signed root's own signature is never checked by clients.
        weak_hash = _weak_hash(cert) if not _self_signed(cert) or i == 0 else None
        if weak_hash:
            out.append(where.finding(
                "WEAK_SIGNATURE", Severity.ERROR,
                f"{where.label}: {what} is signed with {weak_hash}, which clients reject: "
                "reissue it with SHA-256", path=path, algorithm=weak_hash))
    return out


def _names(leaf: x509.Certificate, names: Sequence[str], authoritative: bool,
           where: Where) -> list[Finding]:
    try:
        missing = [n for n in names if n and not certificate_covers(leaf, n)]
    except PKIError as exc:
        return [where.finding("CERT_UNPARSABLE", Severity.ERROR,
                              f"{where.label}: {exc.message}")]
    if not missing:
        return []
    severity = Severity.ERROR if authoritative else Severity.WARNING
    source = "the slot's names" if authoritative else "the host's name"
    return [where.finding(
        "NAME_MISMATCH", severity,
        f"{where.label}: the certificate ({_subject(leaf)}) does not cover "
        f"{', '.join(missing)} ({source}): issue one whose subjectAltName includes "
        f"{'them' if len(missing) > 1 else 'it'}", names=missing)]


def _trust(leaf: x509.Certificate, rest: list[x509.Certificate],
           trust: list[x509.Certificate], where: Where) -> list[Finding]:
    # The one trust rule (certmgr.pki.trust): only roots are anchors; the other
    # certificates given as trust only help build the path.
    anchors = {fingerprint_sha256(c) for c in trust_anchors(trust)}
    built = build_chain(leaf, rest + trust)
    if any(fingerprint_sha256(c) in anchors for c in built):
        return []
    top = built[-1]
    path = where.chain_path or where.path
    if _self_signed(top) or any(c.subject == top.issuer for c in trust_anchors(trust)):
        return [where.finding(
            "CHAIN_UNTRUSTED", Severity.ERROR,
            f"{where.label}: the chain ends at {_subject(top)}, which is not among the trusted "
            "CA certificates (or is signed by another key than theirs): add its root to the "
            "trusted-CA file or use a certificate from a trusted CA", path=path,
            root=_subject(top))]
    return [where.finding(
        "CHAIN_INCOMPLETE", Severity.ERROR,
        f"{where.label}: the issuer of {_subject(top)} ({top.issuer.rfc4514_string()}) is "
        "missing: add the intermediate CA certificate to the chain file", path=path,
        missing_issuer=top.issuer.rfc4514_string())]
