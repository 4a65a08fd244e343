"""The monitor's pass and its schedule: renew, probe, record, judge, notify, export.

One :meth:`Monitor.run_once` pass:

1. renews the definitions inside their renewal window (:class:`Renewer`);
2. probes every endpoint in the repository (:func:`watched_endpoints`, the
   probe engine, bounded concurrency) and judges what each served with the
   same checks as ``certmgr scan`` (DRIFT against the last verified deployment);
3. stores each observation (history bounded per endpoint);
4. turns what is wrong into :class:`Problem` values (expiring, expired, drift,
   failed probe, failed renewal, failed deploy) and hands them to the
   :class:`NoticeBoard`, which tells each one once per period and when it clears;
   each completed renewal is announced once;
5. refreshes the Prometheus snapshot.

:meth:`Monitor.watch` repeats passes every ``interval`` until stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from certmgr.errors import NotFound
from certmgr.issuers.schedule import renew_at
from certmgr.models import Finding, Severity
from certmgr.monitor.metrics import CertificateStatus, EndpointStatus, MonitorMetrics
from certmgr.monitor.notify import Delivery, EventKind, NoticeBoard, Problem, utcnow
from certmgr.monitor.notify_worker import NoticeWorker
from certmgr.monitor.renewal import RenewalResult, RenewalStatus, Renewer, renewal_problems
from certmgr.monitor.scan import Checker, ScanPolicy, ScanResult
from certmgr.monitor.scheduler_endpoints import Watched, watched_endpoints
from certmgr.monitor.settings import MonitorSettings
from certmgr.monitor.state import StateFile
from certmgr.probe.prober import ProbeOptions, Prober, run_async
from certmgr.repository.records import DeploymentState, ObservationRecord

__all__ = ["EndpointReport", "Monitor", "PassReport"]

_EXPIRY_CODES = {"EXPIRED": EventKind.EXPIRED, "EXPIRING_SOON": EventKind.EXPIRING}


@dataclass(frozen=True)
class EndpointReport:
    """One endpoint in one pass: where, what it served, what is wrong with it."""

    watched: Watched
    result: ScanResult

    @property
    def drift(self) -> bool | None:
        expected = self.watched.expectation
        if expected is None or not expected.leaf_sha256 or not self.result.probe.ok:
            return None
        return any(f.code == "DRIFT" for f in self.result.findings)

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json()
        expected = self.watched.expectation
        data.update(host=self.watched.host, slots=list(self.watched.slots),
                    leaf_sha256=self.result.probe.leaf_sha256, drift=self.drift,
                    expected_sha256=expected.leaf_sha256 if expected else None)
        return data


@dataclass(frozen=True)
class PassReport:
    """Everything one pass did; ``failed`` says whether it found problems."""

    started: datetime
    duration: float
    endpoints: tuple[EndpointReport, ...]
    certificates: tuple[CertificateStatus, ...]
    renewals: tuple[RenewalResult, ...]
    problems: tuple[Problem, ...]
    deliveries: tuple[Delivery, ...] = field(default=())

    @property
    def failed(self) -> bool:
        """True if a problem of error severity exists or a notice could not be delivered."""
        return any(p.severity is Severity.ERROR for p in self.problems) or any(
            not d.ok for d in self.deliveries)

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "duration": round(self.duration, 3),
            "endpoints": [e.to_json() for e in self.endpoints],
            "certificates": [_certificate_json(c) for c in self.certificates],
            "renewals": [r.to_json() for r in self.renewals],
            "problems": [{"event": p.kind.value, "subject": p.subject,
                          "severity": p.severity.value, "message": p.message}
                         for p in self.problems],
            "notifications": [d.to_json() for d in self.deliveries],
        }


def _certificate_json(c: CertificateStatus) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"definition": c.definition, "version": c.version, "serial": c.serial,
            "not_after": iso(c.not_after), "renew_at": iso(c.renew_at),
            "last_renewal_ok": c.last_renewal_ok, "last_renewal_at": iso(c.last_renewal_at),
            "renewal_failures": c.renewal_failures}


class Monitor:
    """Runs monitoring passes over one repository.

    Args:
        repo: the repository (certmgr.repository.Repository).
        settings: intervals, windows, history size, probe timeout and concurrency.
        state: the monitor state file.
        board: de-duplicates and sends notices.
        renewer: renews due definitions; None when renewal is off.
        metrics: the Prometheus snapshot to refresh; None without ``/metrics``.
        trust: trust anchors for the chain checks (system store + certmgr's CA...).
        clock: the time source.
        notices: tells the notices on a thread of its own (``--watch``): a pass then
            hands them over and goes on, and its report has no deliveries. None: the
            pass delivers them itself (``--once``), each within its channel's deadline.
    """

    def __init__(self, repo: Any, settings: MonitorSettings, state: StateFile, *,
                 board: NoticeBoard, renewer: Renewer | None = None,
                 metrics: MonitorMetrics | None = None,
                 trust: Sequence[x509.Certificate] | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 notices: NoticeWorker | None = None) -> None:
        self.notices = notices
        self.repo = repo
        self.settings = settings
        self.state = state
        self.board = board
        self.renewer = renewer
        self.metrics = metrics
        self.trust = tuple(trust) if trust is not None else None
        self.clock = clock
        self.prober = Prober(ProbeOptions(timeout=settings.probe_timeout.total_seconds(),
                                          concurrency=settings.concurrency))

    # -- one pass -------------------------------------------------------------------

    def run_once(self) -> PassReport:
        """Renew, probe, record, judge, notify and export once."""
        started, t0 = self.clock(), time.monotonic()
        renewals = tuple(self.renewer.run()) if self.renewer is not None else ()
        endpoints = self._probe(started)
        certificates = self._certificates()
        # Judged at the pass's start: the renewer looked no earlier, so a certificate it
        # found outside its window is not "expiring" moments later in the same pass.
        problems = self._problems(endpoints, certificates, started)
        events = [_renewed(r) for r in renewals if r.status is RenewalStatus.RENEWED
                  ] if self.settings.announce_renewals else []
        # An issuer that failed (down, rate-limited, refusing the name) is announced even
        # when the next one issued: the admin learns of it before the last one fails too.
        events += [_failover(r) for r in renewals
                   if r.failover and r.status is RenewalStatus.RENEWED]
        deliveries: tuple[Delivery, ...] = ()
        if self.notices is not None:
            self.notices.submit(problems, events)
        else:
            deliveries = tuple(self.board.update(problems)) + tuple(self.board.announce(events))
        report = PassReport(started, time.monotonic() - t0, endpoints, certificates, renewals,
                            tuple(problems), deliveries)
        if self.metrics is not None:
            self.metrics.update((self._endpoint_status(e) for e in endpoints), certificates,
                                at=self.clock(), duration=report.duration,
                                notices_failed=sum(not d.ok for d in deliveries)
                                if self.notices is None else self.notices.last_failed)
        return report

    def _probe(self, now: datetime) -> tuple[EndpointReport, ...]:
        watched = watched_endpoints(self.repo)
        by_target = {w.target: w for w in watched}
        probes = run_async(self.prober.probe_all(w.target for w in watched))
        checker = Checker(ScanPolicy(
            trust=self.trust, now=now, warn_days=max(1, self.settings.expiry_warning.days),
            expected=lambda t: by_target[t].expectation if t in by_target else None))
        reports = tuple(EndpointReport(w, checker.check(p)) for w, p in zip(watched, probes,
                                                                           strict=True))
        for report in reports:
            self.repo.add_observation(_observation(report), keep=self.settings.history)
        return reports

    def _certificates(self) -> tuple[CertificateStatus, ...]:
        book = self.state.read().get(Renewer.SECTION, {})
        out = []
        for definition in self.repo.list_definitions():
            cert = self.repo.current_certificate(definition.name)
            entry = book.get(definition.name, {})
            at = entry.get("at")
            out.append(CertificateStatus(
                definition.name,
                cert.version if cert else None, cert.serial if cert else None,
                cert.not_after if cert else None,
                renew_at(cert, definition) if cert else None,
                last_renewal_ok=entry.get("ok") if entry else None,
                last_renewal_at=datetime.fromisoformat(at) if at else None,
                renewal_failures=int(entry.get("failures", 0))))
        return tuple(out)

    # -- what is wrong -----------------------------------------------------------------

    def _problems(self, endpoints: Sequence[EndpointReport],
                  certificates: Sequence[CertificateStatus], now: datetime) -> list[Problem]:
        problems = [p for e in endpoints for p in self._endpoint_problems(e)]
        renew_before = {d.name: d.renew_before for d in self.repo.list_definitions()}
        for c in certificates:
            if c.not_after is None:
                continue
            window = self.settings.expiry_warning
            if self.renewer is not None:
                # A working renewal replaces the certificate when its window opens; warn
                # only from then on, i.e. when the renewal has not done its job.
                window = min(window, renew_before.get(c.definition, window))
            problems.extend(_expiry_problem(f"definition {c.definition}", c.not_after, now,
                                            window, {"version": c.version,
                                                     "serial": c.serial}))
        renewal = renewal_problems(self.state)
        problems.extend(renewal)
        problems.extend(self._deploy_problems({p.subject for p in renewal}))
        return problems

    def _endpoint_problems(self, report: EndpointReport) -> list[Problem]:
        subject = f"endpoint {report.watched.label}"
        probe = report.result.probe
        detail = {"target": str(probe.target), "slots": ", ".join(report.watched.slots)}
        if not probe.ok:
            reason = probe.reason.value if probe.reason else "PROBE_FAILED"
            return [Problem(EventKind.PROBE_FAILED, subject,
                            f"{subject}: probe failed ({reason}): {probe.error}",
                            Severity.ERROR, {**detail, "reason": reason})]
        out = []
        for finding in report.result.findings:
            if finding.code == "DRIFT":
                out.append(Problem(EventKind.DRIFT, subject, finding.message, Severity.ERROR,
                                   {**detail, **_short(finding)}))
            elif finding.code in _EXPIRY_CODES and not self._managed(probe.leaf_sha256):
                # A certificate certmgr issued is watched through its definition instead.
                out.append(Problem(_EXPIRY_CODES[finding.code], subject, finding.message,
                                   finding.severity, detail))
        return out

    def _managed(self, sha256: str | None) -> bool:
        return sha256 is not None and self.repo.certificate_by_fingerprint(sha256) is not None

    def _deploy_problems(self, renewal_subjects: set[str]) -> list[Problem]:
        out = []
        for definition in self.repo.list_definitions():
            if f"definition {definition.name}" in renewal_subjects:
                continue  # the renewal's own failure already says it
            for target in definition.targets:
                try:
                    history = self.repo.deployment_history(target, limit=1)
                except NotFound:
                    continue
                last = history[0] if history else None
                if last is not None and last.state in (DeploymentState.FAILED,
                                                       DeploymentState.ROLLED_BACK):
                    out.append(Problem(
                        EventKind.DEPLOY_FAILED, f"target {target}",
                        f"deployment {last.id} of {last.definition} version {last.version} "
                        f"to {target} ended {last.state.value}: {last.reason or 'no reason'}",
                        Severity.ERROR, {"deployment": last.id}))
        return out

    # -- metrics ---------------------------------------------------------------------

    def _endpoint_status(self, report: EndpointReport) -> EndpointStatus:
        probe, expected = report.result.probe, report.watched.expectation
        leaf = report.result.chain[0] if report.result.chain else None
        not_after = datetime.fromisoformat(leaf["not_after"]) if leaf and leaf.get(
            "not_after") else None
        errors = [f for f in report.result.findings
                  if f.severity is Severity.ERROR and f.code != "DRIFT"]
        cert = (self.repo.certificate_by_fingerprint(probe.leaf_sha256)
                if probe.leaf_sha256 else None)
        return EndpointStatus(
            report.watched.host, str(probe.target), probe.ok,
            datetime.fromtimestamp(probe.observed_at, tz=self.clock().tzinfo)
            if probe.observed_at else self.clock(),
            error=probe.reason.value if probe.reason else None,
            serial=cert.serial if cert else None, sha256=probe.leaf_sha256,
            not_after=not_after, valid=not errors if probe.ok else None, drift=report.drift,
            definition=cert.definition if cert else (expected.definition if expected else None))

    # -- the schedule ----------------------------------------------------------------

    def watch(self, stop: threading.Event, on_pass: Callable[[PassReport], None],
              on_error: Callable[[BaseException], None]) -> None:
        """Run a pass every ``settings.interval`` until ``stop`` is set.

        A pass that raises (the repository went away, a bug) is handed to
        ``on_error`` and the schedule goes on: a monitor that stops watching
        silently is worse than one that complains every interval.
        """
        interval = self.settings.interval.total_seconds()
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                on_pass(self.run_once())
            except Exception as exc:  # noqa: BLE001 - reported, and the next pass still runs
                on_error(exc)
            stop.wait(max(0.0, interval - (time.monotonic() - t0)))


def _expiry_problem(subject: str, not_after: datetime, now: datetime, window: timedelta,
                    detail: dict[str, Any]) -> list[Problem]:
    left = not_after - now
    info = {**detail, "not_after": not_after.isoformat()}
    if left <= timedelta(0):
        return [Problem(EventKind.EXPIRED, subject,
                        f"{subject}: the certificate expired at {not_after.isoformat()}",
                        Severity.ERROR, info)]
    if left <= window:
        return [Problem(EventKind.EXPIRING, subject,
                        f"{subject}: the certificate expires at {not_after.isoformat()} "
                        f"(in {_humane(left)})", Severity.WARNING, info)]
    return []


def _renewed(result: RenewalResult) -> Problem:
    targets = [d.target for d in result.deployed]
    where = f"deployed to {', '.join(targets)}" if targets else "no targets to deploy to"
    return Problem(EventKind.RENEWED, f"definition {result.definition}",
                   f"{result.definition} renewed: version {result.version}, serial "
                   f"{result.serial}, {where}", Severity.INFO,
                   {"version": result.version, "serial": result.serial,
                    "targets": ", ".join(targets)})


def _failover(result: RenewalResult) -> Problem:
    return Problem(EventKind.ISSUER_FAILOVER, f"definition {result.definition}",
                   f"{result.definition} renewed by a later issuer: "
                   f"{'; '.join(result.failover)}", Severity.WARNING,
                   {"failed_issuers": " | ".join(result.failover),
                    "version": result.version, "serial": result.serial})


def _humane(left: timedelta) -> str:
    if left >= timedelta(days=2):
        return f"{left.days} days"
    if left >= timedelta(hours=2):
        return f"{int(left.total_seconds() // 3600)} hours"
    return f"{max(1, int(left.total_seconds() // 60))} minutes"


def _short(finding: Finding) -> dict[str, Any]:
    return {k: v for k, v in finding.detail.items() if isinstance(v, (str, int)) and v}


def _observation(report: EndpointReport) -> ObservationRecord:
    probe = report.result.probe
    leaf = report.result.chain[0] if report.result.chain else None
    return ObservationRecord(
        address=probe.target.host, port=probe.target.port, tls=probe.target.tls.value,
        time=datetime.fromtimestamp(probe.observed_at or time.time(), tz=utcnow().tzinfo),
        ok=probe.ok, host=report.watched.host, sni=probe.target.sni,
        error=f"{probe.reason.value}: {probe.error}" if probe.reason else probe.error,
        chain_sha256=tuple(c["sha256"] for c in report.result.chain),
        leaf_sha256=probe.leaf_sha256,
        not_after=datetime.fromisoformat(leaf["not_after"]) if leaf and leaf.get(
            "not_after") else None,
        findings=tuple(f.to_json() for f in report.result.findings))
