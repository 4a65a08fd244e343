"""The web console's dashboard: problems first, then counts and the expiry timeline,
answered from the repository's aggregates (:mod:`certmgr.repository.aggregates`), so
that 100,000 certificates and 10,000 endpoints cost a few indexed statements, not one
read per definition as :func:`certmgr.app.status.build_status` (``certmgr status``,
which lists everything) does.

The problems are those ``certmgr status`` finds, by kind, each kind with its total and
its first rows (by subject): expired, inside the renewal window, never issued, failed,
rolled back or unfinished deployments, slots left on an older version, endpoints whose
last probe failed or found something. (``status`` also lists every target not deployed
yet; the dashboard leaves that to it.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certmgr.app.status import (
    expired_problem,
    expiring_problem,
    not_issued_problem,
    observation_problems,
)
from certmgr.issuers.schedule import RenewalState, renewal_state
from certmgr.models import Problem, Severity

if TYPE_CHECKING:
    from certmgr.repository import Repository
    from certmgr.repository.aggregates import DeploymentProblemRow

__all__ = ["Dashboard", "ProblemGroup", "TimelineBucket", "build_dashboard"]

FIRST = 20  # rows shown of each kind of problem
WEEKS = 52
_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class ProblemGroup:
    """One kind of problem: how many there are, and the first ones by subject."""

    code: str
    severity: Severity
    total: int
    first: tuple[Problem[str], ...]

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "total": self.total,
                "first": [p.to_json() for p in self.first]}


@dataclass(frozen=True)
class TimelineBucket:
    """Current certificates expiring in ``(start, end]`` (start None: already expired;
    end None: later than the last bucket)."""

    label: str
    start: dt.datetime | None
    end: dt.datetime | None
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "count": self.count}


@dataclass(frozen=True)
class Dashboard:
    time: dt.datetime
    counts: dict[str, int]
    problems: tuple[ProblemGroup, ...]
    timeline: tuple[TimelineBucket, ...]

    @property
    def problem_total(self) -> int:
        return sum(g.total for g in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time.isoformat(), "counts": dict(self.counts),
                "problems": [g.to_json() for g in self.problems],
                "timeline": [b.to_json() for b in self.timeline]}


def build_dashboard(repo: Repository, *, now: dt.datetime | None = None,
                    first: int = FIRST) -> Dashboard:
    """Read the repository's aggregates and judge them (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    week = dt.timedelta(days=7)
    agg = repo.expiry_aggregate(now, first=first, buckets=WEEKS, width=week)
    expired = [expired_problem(r.name, r.version, r.not_after) for r in agg.expired_first]
    renew = [expiring_problem(r.name, r.version, r.not_after) for r in agg.renew_first]
    n_expired, n_renew = agg.expired, agg.renew
    for cert, definition in agg.acme:  # an ACME schedule: the one rule, in Python
        state = renewal_state(cert, definition, now, revocation=False)
        if state is RenewalState.EXPIRED:
            n_expired += 1
            expired.append(expired_problem(definition.name, cert.version, cert.not_after))
        elif state is RenewalState.RENEW:
            n_renew += 1
            renew.append(expiring_problem(definition.name, cert.version, cert.not_after))
    deployments = repo.deployment_problem_rows()
    endpoints = repo.observation_aggregate(first=200)
    groups: dict[str, list[Problem[str]]] = {}
    totals: dict[str, int] = {"EXPIRED": n_expired, "EXPIRING_SOON": n_renew,
                              "NOT_ISSUED": agg.unissued}
    for code, found in (("EXPIRED", expired), ("EXPIRING_SOON", renew),
                        ("NOT_ISSUED", [not_issued_problem(n) for n in agg.unissued_first])):
        groups[code] = found
    for p in [*(_deployment_problem(r) for r in deployments),
              *(q for o in endpoints.problem_rows for q in observation_problems(o))]:
        groups.setdefault(p.code, []).append(p)
        if p.code not in ("EXPIRED", "EXPIRING_SOON", "NOT_ISSUED"):
            totals[p.code] = totals.get(p.code, 0) + 1
    if endpoints.failed > totals.get("PROBE_FAILED", 0):
        totals["PROBE_FAILED"] = endpoints.failed  # more than the rows read
    problems = []
    for code, found in groups.items():
        if not found or not totals.get(code):
            continue
        found.sort(key=lambda p: (p.subject, p.code))
        problems.append(ProblemGroup(code, found[0].severity, max(totals[code], len(found)),
                                     tuple(found[:first])))
    problems.sort(key=lambda g: (_ORDER[g.severity], g.code))
    counts = {"definitions": agg.definitions, "certificates": agg.current,
              RenewalState.EXPIRED.value: n_expired, RenewalState.RENEW.value: n_renew,
              RenewalState.VALID.value: agg.current - n_expired - n_renew,
              RenewalState.NONE.value: agg.unissued, "endpoints": endpoints.endpoints,
              "endpoints_failed": endpoints.failed,
              "endpoints_with_findings": endpoints.with_findings}
    return Dashboard(now, counts, tuple(problems), _timeline(agg.timeline, now, week))


def _timeline(counts: tuple[int, ...], now: dt.datetime,
              week: dt.timedelta) -> tuple[TimelineBucket, ...]:
    out = [TimelineBucket("expired", None, now, counts[0])]
    for i in range(WEEKS):
        start = now + i * week
        out.append(TimelineBucket(f"{start:%Y-%m-%d}", start, start + week, counts[i + 1]))
    out.append(TimelineBucket("later", now + WEEKS * week, None, counts[-1]))
    return tuple(out)


def _deployment_problem(r: DeploymentProblemRow) -> Problem[str]:
    """The words ``certmgr status`` uses for the same deployment."""
    from certmgr.repository import DeploymentState

    target = r.slot_id if r.host == "local" else f"{r.host}/{r.slot_id}"
    if r.state in (DeploymentState.FAILED, DeploymentState.ROLLED_BACK):
        return Problem("DEPLOY_FAILED", target,
                       f"last deployment of {r.definition} v{r.version} {r.state.value}: "
                       f"{r.reason or 'no reason recorded'}", Severity.ERROR)
    if not r.state.finished:
        return Problem("DEPLOY_UNFINISHED", target,
                       f"deployment {r.deployment_id} of {r.definition} stopped at "
                       f"{r.state.value}: the next `certmgr deploy` finishes or rolls it back",
                       Severity.WARNING)
    return Problem("OUTDATED", target, f"{target} has {r.definition} v{r.good_version}, "
                                       f"current is v{r.current_version}", Severity.WARNING)
