"""Chains: ordering certificates, and verifying them with a report of why they fail.

Verification is cryptography's RFC 5280 / CA-Browser-Forum verifier
(:mod:`cryptography.x509.verification`); when it refuses a chain, certmgr walks
the chain itself to say *which* link is wrong (missing issuer, expired,
bad signature, untrusted root, wrong name) because the verifier's own message
is rarely what an administrator can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certmgr.pki.certinfo import is_ca, not_after, not_before
from certmgr.pki.names import certificate_covers, names_of, parse_ip

__all__ = [
    "ChainProblem",
    "ChainProblemCode",
    "ChainReport",
    "build_chain",
    "issued_by",
    "order_problems",
    "sort_chain",
    "verify_chain",
]

_MAX_DEPTH = 10


class ChainProblemCode(str, Enum):
    """Why a chain does not verify. Values appear in JSON and findings."""

    MISSING_ISSUER = "missing-issuer"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    UNTRUSTED_ROOT = "untrusted-root"
    NOT_A_CA = "not-a-ca"
    NAME_MISMATCH = "name-mismatch"
    WRONG_ORDER = "wrong-order"
    POLICY = "policy"


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with a chain, about the certificate named by ``subject``."""

    code: ChainProblemCode
    message: str
    subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code.value, "message": self.message, "subject": self.subject}


@dataclass(frozen=True)
class ChainReport:
    """The outcome of :func:`verify_chain`: the chain found (leaf first) and its problems."""

    chain: tuple[x509.Certificate, ...]
    problems: tuple[ChainProblem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reason(self) -> str:
        """All problems in one line ('' when the chain is good)."""
        return "; ".join(p.message for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "chain": [c.subject.rfc4514_string() for c in self.chain],
            "problems": [p.to_json() for p in self.problems],
        }


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number:x}"


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True if ``issuer``'s name and key signed ``cert``."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def build_chain(leaf: x509.Certificate,
                pool: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """``leaf`` followed by its issuers found in ``pool`` (any order), up to a self-signed one."""
    candidates = [c for c in pool if c != leaf]
    chain = [leaf]
    while len(chain) < _MAX_DEPTH:
        current = chain[-1]
        if current.subject == current.issuer and issued_by(current, current):
            break
        parent = next((c for c in candidates if c not in chain and issued_by(current, c)), None)
        if parent is None:
            break
        chain.append(parent)
    return tuple(chain)


def sort_chain(certs: Sequence[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """A bundle in any order, leaf first then each issuer; unrelated certificates last."""
    if not certs:
        return ()
    issuers = {c.issuer for c in certs if c.subject != c.issuer}
    leaf = next((c for c in certs if c.subject not in issuers), certs[0])
    chain = build_chain(leaf, certs)
    return chain + tuple(c for c in certs if c not in chain)


def order_problems(certs: Sequence[x509.Certificate]) -> tuple[ChainProblem, ...]:
    """Problems of a chain file read in order: each certificate must be issued by the next."""
    problems: list[ChainProblem] = []
    for i, cert in enumerate(certs[:-1]):
        if issued_by(cert, certs[i + 1]):
            continue
        if cert.subject == cert.issuer:
            problems.append(ChainProblem(
                ChainProblemCode.WRONG_ORDER, f"certificate {i + 1} ({_subject(cert)}) is a "
                "root but more certificates follow it", _subject(cert)))
            continue
        later = [c for c in certs[i + 2:] if issued_by(cert, c)]
        code = ChainProblemCode.WRONG_ORDER if later else ChainProblemCode.MISSING_ISSUER
        what = "comes later in the file" if later else \
            f"is missing (the next certificate is {_subject(certs[i + 1])})"
        problems.append(ChainProblem(
            code, f"certificate {i + 1} ({_subject(cert)}): its issuer "
                  f"({cert.issuer.rfc4514_string()}) {what}", _subject(cert)))
    return tuple(problems)


def verify_chain(
    leaf: x509.Certificate,
    untrusted: Iterable[x509.Certificate] = (),
    roots: Iterable[x509.Certificate] = (),
    *,
    hostname: str | None = None,
    at: dt.datetime | None = None,
) -> ChainReport:
    """Verify ``leaf`` as a TLS server certificate up to one of ``roots``.

    Args:
        leaf: the server certificate.
        untrusted: intermediates (any order; extra ones are ignored).
        roots: trust anchors.
        hostname: the name (or IP) the certificate must be valid for; without it,
            the leaf's first SAN is used so only the chain is judged.
        at: the time of validity (default: now).

    Returns:
        A :class:`ChainReport` whose ``problems`` say why the chain fails, if it does.
    """
    at = at or dt.datetime.now(dt.UTC)
    pool = list(untrusted)
    anchors = list(roots)
    try:
        chain = _run_verifier(leaf, pool, anchors, hostname, at)
    except VerificationError as exc:
        return ChainReport(build_chain(leaf, pool + anchors),
                           _diagnose(leaf, pool, anchors, hostname, at, str(exc)))
    return ChainReport(chain)


def _run_verifier(leaf: x509.Certificate, pool: list[x509.Certificate],
                  anchors: list[x509.Certificate], hostname: str | None,
                  at: dt.datetime) -> tuple[x509.Certificate, ...]:
    if not anchors:
        raise VerificationError("no trusted root certificates were given")
    subject = hostname or next(iter(names_of(leaf).all), None)
    if subject is None:
        raise VerificationError("the certificate names no DNS name or IP address")
    ip = parse_ip(subject)
    general: x509.DNSName | x509.IPAddress = (
        x509.IPAddress(ip) if ip is not None else x509.DNSName(subject.lower()))
    try:
        verifier = PolicyBuilder().store(Store(anchors)).time(at).build_server_verifier(general)
        return tuple(verifier.verify(leaf, pool))
    except (ValueError, TypeError) as exc:  # a name the verifier cannot take, a bad extension
        raise VerificationError(str(exc)) from None


def _diagnose(leaf: x509.Certificate, pool: list[x509.Certificate],
              anchors: list[x509.Certificate], hostname: str | None, at: dt.datetime,
              verifier_message: str) -> tuple[ChainProblem, ...]:
    problems: list[ChainProblem] = []
    if hostname and not certificate_covers(leaf, hostname):
        problems.append(ChainProblem(ChainProblemCode.NAME_MISMATCH,
                                     f"the certificate is not valid for {hostname!r}",
                                     _subject(leaf)))
    chain = _walk(leaf, pool, anchors)
    for i, cert in enumerate(chain):
        problems.extend(_validity(cert, at))
        if i > 0 and not is_ca(cert):
            problems.append(ChainProblem(ChainProblemCode.NOT_A_CA,
                                         f"{_subject(cert)} issued a certificate but is not a CA",
                                         _subject(cert)))
    problems.extend(_top_problem(chain[-1], pool, anchors))
    if not problems and any(_edwards(c) for c in chain):
        problems.append(ChainProblem(ChainProblemCode.POLICY,
                                     "Ed25519/Ed448 keys are outside the RFC 5280 web profile "
                                     "the verifier applies (OpenSSL-based servers accept them)",
                                     _subject(leaf)))
    if not problems:
        problems.append(ChainProblem(ChainProblemCode.POLICY,
                                     f"rejected by RFC 5280 verification: {verifier_message}",
                                     _subject(leaf)))
    return tuple(problems)


def _walk(leaf: x509.Certificate, pool: list[x509.Certificate],
          anchors: list[x509.Certificate]) -> list[x509.Certificate]:
    chain = [leaf]
    while len(chain) < _MAX_DEPTH and chain[-1] not in anchors:
        current = chain[-1]
        if current.subject == current.issuer and issued_by(current, current):
            break
        parent = next((c for c in anchors + pool if c not in chain and issued_by(current, c)),
                      None)
        if parent is None:
            break
        chain.append(parent)
    return chain


def _validity(cert: x509.Certificate, at: dt.datetime) -> list[ChainProblem]:
    if at > not_after(cert):
        return [ChainProblem(ChainProblemCode.EXPIRED,
                             f"{_subject(cert)} expired on {not_after(cert):%Y-%m-%d %H:%M} UTC",
                             _subject(cert))]
    if at < not_before(cert):
        return [ChainProblem(ChainProblemCode.NOT_YET_VALID,
                             f"{_subject(cert)} is not valid before "
                             f"{not_before(cert):%Y-%m-%d %H:%M} UTC", _subject(cert))]
    return []


def _top_problem(top: x509.Certificate, pool: list[x509.Certificate],
                 anchors: list[x509.Certificate]) -> list[ChainProblem]:
    if top in anchors:
        return []
    name = _subject(top)
    if top.subject == top.issuer and issued_by(top, top):
        return [ChainProblem(ChainProblemCode.UNTRUSTED_ROOT,
                             f"the chain ends at {name}, which is not a trusted root", name)]
    same_name = [c for c in anchors + pool if c.subject == top.issuer and c != top]
    if same_name:
        return [ChainProblem(ChainProblemCode.BAD_SIGNATURE,
                             f"the signature on {name} does not verify with the key of "
                             f"{top.issuer.rfc4514_string()}", name)]
    return [ChainProblem(ChainProblemCode.MISSING_ISSUER,
                         f"the issuer of {name} ({top.issuer.rfc4514_string()}) is missing: "
                         "add the issuing CA's certificate to the chain "
                         "(or its root to the trusted CAs)", name)]


def _edwards(cert: x509.Certificate) -> bool:
    return isinstance(cert.public_key(), (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))
