"""The monitoring screens: the endpoints (paginated, filtered by problem) with their last
probe, one endpoint with its history, "scan now" for one or all (a job)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import RedirectResponse

from certmgr.app import endpoints as ep
from certmgr.app import users as uc
from certmgr.web.api_monitor import scan_job
from certmgr.web.console import Console
from certmgr.web.pages import _render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
PAGE = 50


def _may_scan(request: Request) -> Callable[[str | None], bool]:
    """Whether the user may scan an endpoint of ``host`` (its button is shown)."""
    user: uc.UserRecord = request.state.user
    return lambda host: uc.may(user, "operator", [host] if host else [])


@router.get("/monitoring")
def monitoring(request: Request, offset: int = 0, problem: str = "") -> Response:
    console: Console = request.app.state.console
    chosen = problem[:16] if problem[:16] in (*ep.PROBLEMS, "any") else None
    page = ep.endpoints_page(console.repository(), max(0, min(offset, 10_000_000)), PAGE,
                             problem=chosen)
    return _render(request, "monitoring.html", page=page, problem=chosen or "",
                   problems=ep.PROBLEMS, may_scan=_may_scan(request))


@router.get("/monitoring/{endpoint_id}")
def endpoint(request: Request, endpoint_id: str) -> Response:
    console: Console = request.app.state.console
    detail = ep.endpoint_detail(console.repository(), endpoint_id[:16])
    return _render(request, "endpoint.html", detail=detail, row=detail.endpoint,
                   may_scan=_may_scan(request))


@router.post("/monitoring/scan")
def scan(request: Request,
         endpoint: Annotated[str, Form(max_length=16)] = "") -> Response:
    """Scan one endpoint (``endpoint``) or every monitored one on the user's hosts."""
    job = scan_job(request, [ep.check_endpoint_id(endpoint)] if endpoint else None)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
