"""The REST API of monitoring: the endpoints with their last probe and problems, one
endpoint with its history, and "scan now" as a job. Each route calls
:mod:`certmgr.app.endpoints` only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from certmgr.app import endpoints as ep
from certmgr.app import users as uc
from certmgr.app.audit import acting_as
from certmgr.web.api import _ERRORS, JobOut, Limit, Offset, PageOut
from certmgr.web.console import Console
from certmgr.web.jobs import Job, Reporter
from certmgr.web.security import require_hosts

__all__ = ["router", "scan_job"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)
EndpointId = Annotated[str, Field(min_length=16, max_length=16, pattern=r"^[0-9a-f]{16}$")]
Problem = Literal["any", "unreachable", "expired", "expiring", "drift", "mismatch", "chain",
                  "unprobed"]


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoints: list[EndpointId] | None = Field(default=None, min_length=1, max_length=1000)


def scan_job(request: Request, ids: list[str] | None) -> Job:
    """Scan the endpoints ``ids`` (None: every monitored one on the user's hosts) as a
    job; an endpoint on a host outside the user's patterns is refused (403, audited)."""
    console: Console = request.app.state.console
    user: uc.UserRecord = request.state.user
    repo = console.repository()
    chosen = ep.scan_targets(repo, ids, lambda host: uc.host_allowed(user, host))
    if ids is not None:
        require_hosts(request, ep.hosts_of(chosen))
    subject = (f"endpoint:{ids[0]}" if ids is not None and len(ids) == 1
               else f"endpoints:{len(chosen)}")

    def work(reporter: Reporter) -> Any:
        with acting_as(user.name):
            reporter.event(f"scanning {len(chosen)} endpoint(s)")
            return ep.scan_endpoints(console, chosen, on_item=reporter.item)

    job = console.jobs.submit("scan", subject, user.name, work,
                              {"endpoints": ids, "count": len(chosen)})
    repo.record_event("job.scan", subject, {"job": job.id, "user": user.name})
    return job


@router.get("/endpoints", response_model=PageOut)
def endpoints(request: Request, offset: Offset = 0, limit: Limit = 50,
              problem: Annotated[Problem | None, Query()] = None) -> PageOut:
    """The monitored endpoints with their last probe, the certificate served and their
    problems (``problem``: only those with it; ``any``: any problem)."""
    console: Console = request.app.state.console
    p = ep.endpoints_page(console.repository(), offset, limit, problem=problem)
    return PageOut(items=[r.to_json() for r in p.items], total=p.total, offset=p.offset,
                   limit=p.limit)


@router.get("/endpoints/{endpoint_id}", response_model=dict[str, Any])
def endpoint(request: Request, endpoint_id: EndpointId,
             limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """One endpoint with its probes, newest first."""
    console: Console = request.app.state.console
    return ep.endpoint_detail(console.repository(), endpoint_id, limit=limit).to_json()


@router.post("/scans", status_code=202, response_model=JobOut)
def scan(request: Request, body: ScanIn) -> dict[str, Any]:
    """Probe endpoints now (``endpoints``: their ids; absent: every monitored endpoint on
    the user's hosts), record and judge each as the monitor does, as a job."""
    return scan_job(request, body.endpoints).to_json()
