"""The overall status of every certificate: what ``certmgr status`` shows (and the web
console's dashboard).

Built from the repository only (no network, no files): each definition with
its current version and expiry, each target slot with its last deployment,
each endpoint with its last observation, and a list of problems, worst first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from certmgr.issuers.schedule import RenewalState, renewal_state
from certmgr.models import Problem, Severity
from certmgr.repository import (
    CertificateRecord,
    DefinitionRecord,
    DeploymentRecord,
    DeploymentState,
    ObservationRecord,
    Repository,
)
from certmgr.repository.inventory import split_target

__all__ = ["CertificateStatus", "Problem", "StatusReport", "TargetStatus", "build_status",
           "deployment_problems", "expired_problem", "expiring_problem", "not_issued_problem",
           "observation_problems"]

_HISTORY = 20  # deployments of each slot looked at, newest first
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class TargetStatus:
    """One slot a definition targets, and its last deployment."""

    target: str
    deployed_version: int | None
    state: str
    when: datetime | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "deployed_version": self.deployed_version,
                "state": self.state, "when": self.when.isoformat() if self.when else None,
                "reason": self.reason}


@dataclass(frozen=True)
class CertificateStatus:
    """One definition: its current certificate, its renewal state and where it went."""

    definition: DefinitionRecord
    current: CertificateRecord | None
    days_left: int | None
    targets: tuple[TargetStatus, ...]
    state: RenewalState = RenewalState.NONE

    def to_json(self) -> dict[str, Any]:
        d, c = self.definition, self.current
        return {
            "name": d.name, "cn": d.cn, "sans": list(d.sans), "issuer": d.issuer,
            "version": c.version if c else None, "serial": c.serial if c else None,
            "sha256": c.sha256 if c else None,
            "not_after": c.not_after.isoformat() if c else None,
            "days_left": self.days_left, "renew_before_days": d.renew_before.days,
            "targets": [t.to_json() for t in self.targets],
        }


@dataclass(frozen=True)
class StatusReport:
    """Everything ``certmgr status`` prints; problems sorted worst first."""

    time: datetime
    certificates: tuple[CertificateStatus, ...]
    observations: tuple[ObservationRecord, ...]
    problems: tuple[Problem[str], ...] = field(default=())

    @property
    def has_errors(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "problems": [p.to_json() for p in self.problems],
            "certificates": [c.to_json() for c in self.certificates],
            "endpoints": [_observation_json(o) for o in self.observations],
        }


def _observation_json(o: ObservationRecord) -> dict[str, Any]:
    return {"host": o.host, "address": o.address, "port": o.port, "tls": o.tls, "sni": o.sni,
            "time": o.time.isoformat(), "ok": o.ok, "error": o.error,
            "leaf_sha256": o.leaf_sha256,
            "not_after": o.not_after.isoformat() if o.not_after else None,
            "findings": list(o.findings)}


def build_status(repo: Repository, *, now: datetime | None = None) -> StatusReport:
    """Read the repository and judge it: expiry, deployments, last observations."""
    now = now or datetime.now(UTC)
    problems: list[Problem[str]] = []
    certificates: list[CertificateStatus] = []
    definitions, currents, history = repo.status_snapshot(history=_HISTORY)
    for definition in definitions:
        current = currents.get(definition.name)
        days_left = None if current is None else _days(current.not_after - now)
        state = renewal_state(current, definition, now, revocation=False)
        problems.extend(_certificate_problems(definition, current, state))
        targets = tuple(_target_status(history.get(split_target(target), []), definition,
                                       target, current, problems)
                        for target in definition.targets)
        certificates.append(CertificateStatus(definition, current, days_left, targets, state))
    observations = tuple(repo.latest_observations())
    for o in observations:
        problems.extend(observation_problems(o))
    problems.sort(key=lambda p: (_SEVERITY_ORDER[p.severity], p.subject, p.code))
    certificates.sort(key=lambda c: (c.days_left is None, c.days_left or 0,
                                     c.definition.name))
    return StatusReport(now, tuple(certificates), observations, tuple(problems))


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def _certificate_problems(d: DefinitionRecord, current: CertificateRecord | None,
                          state: RenewalState) -> list[Problem[str]]:
    if current is None:
        return [not_issued_problem(d.name)]
    if state is RenewalState.EXPIRED:
        return [expired_problem(d.name, current.version, current.not_after)]
    if state is RenewalState.RENEW:
        return [expiring_problem(d.name, current.version, current.not_after)]
    return []


def not_issued_problem(name: str) -> Problem[str]:
    return _problem(Severity.WARNING, "NOT_ISSUED", f"definition:{name}",
                    f"{name} has no certificate yet: run `certmgr issue {name}`")


def expired_problem(name: str, version: int, not_after: datetime) -> Problem[str]:
    return _problem(Severity.ERROR, "EXPIRED", f"definition:{name}",
                    f"{name} v{version} expired on {not_after:%Y-%m-%d}")


def expiring_problem(name: str, version: int, not_after: datetime) -> Problem[str]:
    return _problem(Severity.WARNING, "EXPIRING_SOON", f"definition:{name}",
                    f"{name} v{version} expires on {not_after:%Y-%m-%d %H:%M} UTC, inside "
                    "its renewal window")


def _problem(severity: Severity, code: str, subject: str, message: str) -> Problem[str]:
    return Problem(code, subject, message, severity)


def _target_status(slot_history: list[DeploymentRecord], d: DefinitionRecord, target: str,
                   current: CertificateRecord | None, problems: list[Problem[str]]
                   ) -> TargetStatus:
    # the slot's newest deployments (of any definition), then this definition's
    history = [h for h in slot_history if h.definition == d.name]
    if not history:
        if current is not None:
            problems.append(_problem(Severity.WARNING, "NOT_DEPLOYED", target,
                                    f"{d.name} v{current.version} is not deployed to {target}: "
                                    f"run `certmgr deploy {d.name}`"))
        return TargetStatus(target, None, "not deployed", None, None)
    last = history[0]
    good = next((h for h in history if h.state is DeploymentState.VERIFIED), None)
    problems.extend(deployment_problems(d, target, current, last, good))
    return TargetStatus(target, good.version if good else None, last.state.value,
                        last.finished or last.started, last.reason)


def deployment_problems(d: DefinitionRecord, target: str, current: CertificateRecord | None,
                         last: DeploymentRecord, good: DeploymentRecord | None
                         ) -> list[Problem[str]]:
    if last.state in (DeploymentState.FAILED, DeploymentState.ROLLED_BACK):
        return [_problem(Severity.ERROR, "DEPLOY_FAILED", target,
                        f"last deployment of {d.name} v{last.version} {last.state.value}: "
                        f"{last.reason or 'no reason recorded'}")]
    if not last.state.finished:
        return [_problem(Severity.WARNING, "DEPLOY_UNFINISHED", target,
                        f"deployment {last.id} of {d.name} stopped at {last.state.value}: "
                        "the next `certmgr deploy` finishes or rolls it back")]
    if current is not None and good is not None and good.version != current.version:
        return [_problem(Severity.WARNING, "OUTDATED", target,
                        f"{target} has {d.name} v{good.version}, current is v{current.version}")]
    return []


def observation_problems(o: ObservationRecord) -> list[Problem[str]]:
    where = f"{o.address}:{o.port}" + ("" if o.tls == "direct" else f"/{o.tls}")
    if not o.ok:
        return [_problem(Severity.ERROR, "PROBE_FAILED", where,
                        f"last probe at {o.time:%Y-%m-%d %H:%M} failed: {o.error}")]
    out: list[Problem[str]] = []
    for f in o.findings:
        severity = Severity(f.get("severity", "info"))
        if severity is not Severity.INFO:
            out.append(_problem(severity, str(f.get("code", "FINDING")), where,
                               str(f.get("message", ""))))
    return out
