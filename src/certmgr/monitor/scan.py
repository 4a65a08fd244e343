"""Scans: probe many endpoints, then check what each one served.

The network part (:class:`certmgr.probe.prober.Prober`) only collects; the
checks run afterwards, off the network path, through the same
:func:`certmgr.checks.check_certificates` that ``certmgr check`` uses on
files, so a served chain gets the same codes (with ``target`` in place of
``path``). On top of those a scan reports:

* the probe's own failure as a finding whose code is its :class:`Reason`
  (TIMEOUT, CONNECTION_REFUSED, STARTTLS_REFUSED, HANDSHAKE_FAILED...);
* DRIFT: the endpoint serves another certificate than the one the
  repository deployed there (see :mod:`certmgr.monitor.scan_repository`).

Thousands of endpoints usually serve a handful of distinct chains, so each
distinct chain is parsed and checked once and its findings are re-addressed
to every target that served it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from certmgr.checks import Where, check_certificates
from certmgr.errors import PKIError
from certmgr.models import Finding, Severity
from certmgr.pki import names_of
from certmgr.probe.prober import ProbeOptions, Prober
from certmgr.probe.result import ProbeResult
from certmgr.probe.targets import Target

__all__ = ["Checker", "Expectation", "ScanPolicy", "ScanResult", "scan"]

#: Scans of at least this many targets probe on one event loop per CPU.
THREADED_FROM = 64

# Findings of a distinct chain are computed once with this stand-in for the target,
# then copied per target with the real one put in its place.
_PLACEHOLDER = "\x00target\x00"


@dataclass(frozen=True)
class Expectation:
    """What the repository says an endpoint should serve.

    Attributes:
        leaf_sha256: fingerprint of the certificate deployed there.
        definition, version: which certificate version that is.
        slot: ``HOST/SLOT-ID`` of the slot the endpoint serves.
        service: the service kind (``postfix``...).
        names: the names the slot must answer to (checked as NAME_MISMATCH).
    """

    leaf_sha256: str | None
    definition: str | None = None
    version: int | None = None
    slot: str | None = None
    service: str | None = None
    names: tuple[str, ...] = ()


#: Looks up what a target should serve; None when the repository knows nothing of it.
ExpectationLookup = Callable[[Target], Expectation | None]


@dataclass(frozen=True)
class ScanPolicy:
    """How observations are judged.

    Attributes:
        trust: trust anchors (system store, certmgr's CA, configured CAs); None
            skips the chain checks.
        warn_days: EXPIRING_SOON when the leaf expires within this many days.
        now: the time to judge validity at (default: when the checks start).
        expected: what the repository deployed to a target, for DRIFT and names.
    """

    trust: tuple[x509.Certificate, ...] | None = None
    warn_days: int = 30
    now: dt.datetime | None = None
    expected: ExpectationLookup | None = None


@dataclass(frozen=True)
class ScanResult:
    """One target's probe and the findings about what it served."""

    probe: ProbeResult
    findings: tuple[Finding, ...]
    chain: tuple[dict[str, Any], ...] = ()

    @property
    def target(self) -> Target:
        return self.probe.target

    @property
    def failed(self) -> bool:
        """True if the probe failed or a finding has error severity."""
        return not self.probe.ok or any(f.severity is Severity.ERROR for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """The result object of ``certmgr scan --json``."""
        return {
            "target": str(self.probe.target),
            "ok": self.probe.ok,
            "tls_version": self.probe.tls_version,
            "chain": list(self.chain),
            "findings": [f.to_json() for f in self.findings],
            "error": self.probe.error,
        }


class Checker:
    """Judges probe results under one policy, parsing and checking each distinct chain once."""

    def __init__(self, policy: ScanPolicy | None = None) -> None:
        self.policy = policy or ScanPolicy()
        self.now = self.policy.now or dt.datetime.now(dt.UTC)
        self._certs: dict[bytes, x509.Certificate | None] = {}
        self._entries: dict[bytes, dict[str, Any]] = {}
        self._verdicts: dict[tuple[Any, ...], list[Finding]] = {}

    def check(self, result: ProbeResult) -> ScanResult:
        """The findings and chain summary for one probe result."""
        label = str(result.target)
        if not result.ok:
            code = result.reason.value if result.reason else "PROBE_FAILED"
            failure = Finding(code, Severity.ERROR, f"{label}: {result.error}", target=label)
            return ScanResult(result, (failure,))
        expected = self.policy.expected(result.target) if self.policy.expected else None
        findings = self._chain_findings(result, expected)
        if expected is not None and expected.leaf_sha256 and result.leaf_sha256 != (
                expected.leaf_sha256):
            findings.append(_drift(result, expected, label))
        return ScanResult(result, tuple(findings), self.chain_summary(result.chain))

    def chain_summary(self, chain: Sequence[bytes]) -> tuple[dict[str, Any], ...]:
        """``{"sha256", "subject", "issuer", "not_after", "sans"}`` per presented certificate."""
        return tuple(self._entry(der) for der in chain)

    def _entry(self, der: bytes) -> dict[str, Any]:
        entry = self._entries.get(der)
        if entry is None:
            cert = self._cert(der)
            entry = {"sha256": hashlib.sha256(der).hexdigest(), "subject": None,
                     "issuer": None, "not_after": None, "sans": []}
            if cert is not None:
                entry.update(subject=cert.subject.rfc4514_string(),
                             issuer=cert.issuer.rfc4514_string(),
                             not_after=cert.not_valid_after_utc.isoformat(),
                             sans=_sans(cert))
            self._entries[der] = entry
        return entry

    def _cert(self, der: bytes) -> x509.Certificate | None:
        if der not in self._certs:
            try:
                self._certs[der] = x509.load_der_x509_certificate(der)
            except ValueError:
                self._certs[der] = None
        return self._certs[der]

    def _chain_findings(self, result: ProbeResult, expected: Expectation | None) -> list[Finding]:
        target = result.target
        names = (target.sni,) if target.sni else (expected.names if expected else ())
        service = expected.service if expected else None
        slot = expected.slot if expected else None
        key = (result.chain, names, service, slot)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._judge(result.chain, names, Where(service=service, slot=slot,
                                                            target=_PLACEHOLDER))
            self._verdicts[key] = verdict
        label = str(target)
        return [dataclasses.replace(f, target=label,
                                    message=f.message.replace(_PLACEHOLDER, label))
                for f in verdict]

    def _judge(self, chain: tuple[bytes, ...], names: tuple[str, ...],
               where: Where) -> list[Finding]:
        certs = [self._cert(der) for der in chain]
        if not certs or certs[0] is None:
            return [where.finding("CERT_UNPARSABLE", Severity.ERROR,
                                  f"{_PLACEHOLDER}: the server's certificate cannot be parsed")]
        parsed = [c for c in certs if c is not None]
        try:
            return check_certificates(parsed, names=names, names_authoritative=True,
                                      trust=self.policy.trust, now=self.now,
                                      warn_days=self.policy.warn_days, where=where)
        except (PKIError, ValueError) as exc:
            return [where.finding("CERT_UNPARSABLE", Severity.ERROR,
                                  f"{_PLACEHOLDER}: the served chain cannot be checked: {exc}")]


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        names = names_of(cert)
    except PKIError:
        return []
    return [*names.dns, *names.ips]


def _drift(result: ProbeResult, expected: Expectation, label: str) -> Finding:
    deployed = (f"{expected.definition} version {expected.version}"
                if expected.definition else "the deployed certificate")
    return Finding(
        "DRIFT", Severity.ERROR,
        f"{label}: serves certificate {str(result.leaf_sha256)[:16]}..., not {deployed} "
        f"({expected.leaf_sha256[:16] if expected.leaf_sha256 else '?'}...) that certmgr "
        "deployed there: redeploy it or find what replaced it",
        service=expected.service, slot=expected.slot, target=label,
        detail={"served_sha256": result.leaf_sha256, "deployed_sha256": expected.leaf_sha256,
                "definition": expected.definition, "version": expected.version})


def _big(targets: Iterable[Target]) -> bool:
    """Worth more than one event-loop thread (a lazy expansion is assumed to be big)."""
    return not isinstance(targets, Sized) or len(targets) >= THREADED_FROM


def scan(targets: Iterable[Target], *, options: ProbeOptions | None = None,
         policy: ScanPolicy | None = None,
         on_probe: Callable[[ProbeResult], None] | None = None,
         threads: int | None = None) -> list[ScanResult]:
    """Probe every target (bounded concurrency), then check each observation.

    Args:
        targets: what to probe; may be a lazy iterator of any length.
        options: timeouts and concurrency.
        policy: trust anchors, expiry window, what the repository expects.
        on_probe: called as each probe finishes (progress bars); from probe threads
            in big scans, so it must be thread-safe (rich's progress is).
        threads: event-loop threads; None: one per CPU for big scans, one for small.

    Returns:
        One result per target, in the order given.
    """
    prober = Prober(options)
    if threads is None and not _big(targets):
        threads = 1
    probes = prober.probe_threaded(targets, on_result=on_probe, threads=threads)
    checker = Checker(policy)
    return [checker.check(p) for p in probes]
