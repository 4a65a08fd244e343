"""Renewal: which definitions are inside their renewal window, re-issue, redeploy, back off.

A definition is *due* when its current certificate's ``not_after -
renew_before`` has passed. :class:`Renewer` re-issues it through the
definition's issuer (:func:`certmgr.issuers.acquisition.issue_definition`) and
deploys the new version to the definition's targets through a
:class:`Deployer`. A failure is kept in the monitor state file with the number
of consecutive failures and the time of the next attempt (exponential back-off
with jitter, :meth:`RetryPolicy.delay`); it is reported as a
:class:`~certmgr.monitor.notify.Problem` on every pass until an attempt
succeeds, so a failed renewal is never silent.

When issuing succeeded but deploying failed, the next attempt only redeploys
the version already issued: a renewal never burns certificates in a loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Protocol

from certmgr.errors import CertmgrError, IssuanceError
from certmgr.issuers.schedule import renew_at
from certmgr.models import Severity
from certmgr.monitor.notify import EventKind, Problem, utcnow
from certmgr.monitor.settings import RetrySettings, format_duration
from certmgr.monitor.state import StateFile
from certmgr.repository.records import CertificateRecord, DefinitionRecord

__all__ = [
    "DeployOutcome",
    "Deployer",
    "Due",
    "Issue",
    "RenewalRepository",
    "RenewalResult",
    "RenewalStatus",
    "Renewer",
    "RetryPolicy",
    "due_renewals",
    "renewal_problems",
]


class RenewalRepository(Protocol):
    """The part of the repository renewal reads."""

    def list_definitions(self) -> list[DefinitionRecord]: ...
    def current_certificate(self, definition: str) -> CertificateRecord | None: ...


@dataclass(frozen=True)
class DeployOutcome:
    """How deploying one certificate to one target (``HOST/SLOT-ID``) ended."""

    target: str
    ok: bool
    error: str | None = None


class Deployer(Protocol):
    """Puts a certificate version on every target of its definition and verifies it is served."""

    def deploy(self, definition: DefinitionRecord,
               certificate: CertificateRecord) -> Sequence[DeployOutcome]:
        """Deploy to each of ``definition.targets``; one outcome per target, failures as data.

        Raises:
            DeployError: the deployment could not even start (nothing changed).
        """
        ...


#: Issues a new version of a definition and returns it (stored in the repository).
Issue = Callable[[DefinitionRecord], CertificateRecord]


class RetryPolicy:
    """Exponential back-off with jitter: ``min(cap, base * 2**(failures-1))``, shortened
    by up to ``jitter`` (a fraction) at random so a fleet of monitors does not retry in step.
    """

    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self.rng = rng or random.Random()

    def delay(self, failures: int) -> timedelta:
        s = self.settings
        exponent = min(max(failures - 1, 0), 40)  # 2**40 minutes outlasts any cap
        full = min(s.cap, s.base * (1 << exponent))
        return full * (1 - s.jitter * self.rng.random())


@dataclass(frozen=True)
class Due:
    """A definition that needs work: ``issue`` a new version, or ``deploy`` the one issued."""

    definition: DefinitionRecord
    certificate: CertificateRecord
    stage: str
    reason: str


def due_renewals(repo: RenewalRepository, now: datetime,
                 pending: dict[str, int] | None = None) -> list[Due]:
    """Definitions inside their renewal window, and those whose renewed version awaits deploy.

    Args:
        pending: definition -> version issued by the monitor but not yet deployed.
    """
    pending = pending or {}
    out = []
    for definition in repo.list_definitions():
        cert = repo.current_certificate(definition.name)
        if cert is None:
            continue  # never issued: that is `certmgr issue`'s job, not a renewal
        opens = renew_at(cert, definition)  # the one renewal window (issuers.schedule)
        if now >= opens:
            state = "expired" if now >= cert.not_after else "renewal window open"
            out.append(Due(definition, cert, "issue",
                           f"version {cert.version} {state} since {opens.isoformat()}"))
        elif pending.get(definition.name) == cert.version and definition.targets:
            out.append(Due(definition, cert, "deploy",
                           f"version {cert.version} was issued but not yet deployed"))
    return out


class RenewalStatus(str, Enum):
    RENEWED = "renewed"
    FAILED = "failed"
    WAITING = "waiting"


@dataclass(frozen=True)
class RenewalResult:
    """What one renewal attempt (or a wait for back-off) did."""

    definition: str
    status: RenewalStatus
    stage: str
    reason: str
    version: int | None = None
    serial: str | None = None
    error: str | None = None
    failures: int = 0
    next_attempt: datetime | None = None
    deployed: tuple[DeployOutcome, ...] = field(default=())
    failover: tuple[str, ...] = ()  # why earlier issuers of the definition failed (ACME)

    def to_json(self) -> dict[str, Any]:
        return {
            "definition": self.definition, "status": self.status.value, "stage": self.stage,
            "reason": self.reason, "version": self.version, "serial": self.serial,
            "error": self.error, "failures": self.failures,
            "next_attempt": self.next_attempt.isoformat() if self.next_attempt else None,
            "deployed": [{"target": d.target, "ok": d.ok, "error": d.error}
                         for d in self.deployed],
            "failover": list(self.failover),
        }


class _Failed(Exception):
    def __init__(self, stage: str, error: str, certificate: CertificateRecord | None = None,
                 deployed: Sequence[DeployOutcome] = ()) -> None:
        super().__init__(error)
        self.stage = stage
        self.error = error
        self.certificate = certificate
        self.deployed = tuple(deployed)


class Renewer:
    """Renews due definitions, remembering failures and back-off in the state file.

    Args:
        repo: where definitions and certificates are.
        issue: issues a new version (default wiring: the definition's issuer).
        deployer: deploys a version to its targets; None: renewal stops after
            issuing and reports the deploy as failed (no deploy engine wired).
        state: the monitor state file (section ``renewals``).
        policy: back-off between failed attempts.
    """

    SECTION: ClassVar[str] = "renewals"

    def __init__(self, repo: RenewalRepository, issue: Issue, deployer: Deployer | None,
                 state: StateFile, policy: RetryPolicy,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.repo = repo
        self.issue = issue
        self.deployer = deployer
        self.state = state
        self.policy = policy
        self.clock = clock

    def run(self) -> list[RenewalResult]:
        """Attempt every due renewal whose back-off has passed; one result per due definition."""
        now = self.clock()
        with self.state.transaction() as doc:
            book: dict[str, Any] = doc.setdefault(self.SECTION, {})
            pending = {name: int(e["pending_deploy"]) for name, e in book.items()
                       if e.get("pending_deploy") is not None}
            due = due_renewals(self.repo, now, pending)
            names = {d.name for d in self.repo.list_definitions()}
            for gone in set(book) - names:
                del book[gone]  # a deleted definition is no longer renewed nor reported
            return [self._one(d, book.setdefault(d.definition.name, {}), now) for d in due]

    def _one(self, due: Due, entry: dict[str, Any], now: datetime) -> RenewalResult:
        name = due.definition.name
        next_at = entry.get("next_attempt")
        if next_at and now < datetime.fromisoformat(next_at):
            return RenewalResult(name, RenewalStatus.WAITING, due.stage, due.reason,
                                 error=entry.get("error"), failures=int(entry.get("failures", 0)),
                                 next_attempt=datetime.fromisoformat(next_at))
        try:
            cert, deployed = self._attempt(due, entry)
        except _Failed as failed:
            failures = int(entry.get("failures", 0)) + 1
            retry_at = now + self.policy.delay(failures)
            entry.update(failures=failures, next_attempt=retry_at.isoformat(), ok=False,
                         stage=failed.stage, error=failed.error, at=now.isoformat())
            got = failed.certificate
            return RenewalResult(name, RenewalStatus.FAILED, failed.stage, due.reason,
                                 got.version if got else None, got.serial if got else None,
                                 failed.error, failures, retry_at, failed.deployed)
        entry.clear()
        entry.update(ok=True, at=now.isoformat(), version=cert.version, serial=cert.serial)
        return RenewalResult(name, RenewalStatus.RENEWED, due.stage, due.reason, cert.version,
                             cert.serial, deployed=tuple(deployed))

    def _attempt(self, due: Due,
                 entry: dict[str, Any]) -> tuple[CertificateRecord, Sequence[DeployOutcome]]:
        definition, cert = due.definition, due.certificate
        if due.stage == "issue":
            if definition.renew_before >= definition.validity:
                raise _Failed("issue", f"definition {definition.name}: renew-before "
                              f"{format_duration(definition.renew_before)} is not shorter than "
                              f"validity {format_duration(definition.validity)}, so every new "
                              "certificate would be due at once: shorten renew-before")
            try:
                cert = self.issue(definition)
            except CertmgrError as exc:
                raise _Failed("issue", exc.message) from None
            except Exception as exc:  # noqa: BLE001 - a daemon reports a bug and carries on
                raise _Failed("issue", f"internal error while issuing: "
                              f"{type(exc).__name__}: {exc}") from None
            entry["pending_deploy"] = cert.version
        if not definition.targets:
            return cert, ()
        outcomes = self._deploy(definition, cert)
        bad = [o for o in outcomes if not o.ok]
        if bad:
            detail = "; ".join(f"{o.target}: {o.error or 'failed'}" for o in bad)
            raise _Failed("deploy", f"version {cert.version} not deployed to "
                          f"{len(bad)} of {len(outcomes)} targets: {detail}", cert, outcomes)
        return cert, outcomes

    def _deploy(self, definition: DefinitionRecord,
                cert: CertificateRecord) -> Sequence[DeployOutcome]:
        if self.deployer is None:
            raise _Failed("deploy", f"version {cert.version} was issued but no deploy engine "
                          "is available to this monitor: run `certmgr deploy "
                          f"{definition.name}`", cert)
        try:
            return self.deployer.deploy(definition, cert)
        except CertmgrError as exc:
            raise _Failed("deploy", exc.message, cert) from None
        except Exception as exc:  # noqa: BLE001 - a daemon reports a bug and carries on
            raise _Failed("deploy", f"internal error while deploying: "
                          f"{type(exc).__name__}: {exc}", cert) from None


def renewal_problems(state: StateFile) -> list[Problem]:
    """A problem per definition whose last renewal attempt failed (until one succeeds)."""
    book = state.read().get(Renewer.SECTION, {})
    out = []
    for name, entry in sorted(book.items()):
        if entry.get("ok", True):
            continue
        kind = EventKind.DEPLOY_FAILED if entry.get("stage") == "deploy" else \
            EventKind.RENEWAL_FAILED
        tries = int(entry.get("failures", 1))
        out.append(Problem(kind, f"definition {name}",
                           f"renewal of {name} failed ({tries} attempt{'s' * (tries > 1)}): "
                           f"{entry.get('error')}", Severity.ERROR,
                           {"failures": tries, "next_attempt": entry.get("next_attempt")}))
    return out


def issue_with_issuer(repo: Any) -> Issue:
    """The default :data:`Issue`: the definition's own issuer via ``issue_definition``."""
    from certmgr.issuers.acquisition import issue_definition

    def issue(definition: DefinitionRecord) -> CertificateRecord:
        outcome = issue_definition(repo, definition)
        if outcome.certificate is None:
            raise IssuanceError(f"definition {definition.name}: the issuer left request "
                                f"{outcome.request.id if outcome.request else '?'} pending "
                                "(an outside CA): `certmgr receive` its answer, then deploy")
        return outcome.certificate

    return issue

