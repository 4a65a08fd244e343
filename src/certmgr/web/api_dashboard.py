"""``GET /api/v1/dashboard``: what the dashboard shows, as JSON (problems by kind with
their totals and first rows, counts, the expiry timeline), from the repository's
aggregates: over 100,000 certificates it answers as fast as over 100 (issue 17,
Speed). ``GET /api/v1/status`` stays ``certmgr status --json``, everything listed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from certmgr.web.api import _ERRORS
from certmgr.web.console import Console

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)


class ProblemOut(BaseModel):
    code: str
    severity: str
    total: int
    first: list[dict[str, Any]]


class BucketOut(BaseModel):
    label: str
    start: str | None
    end: str | None
    count: int


class DashboardOut(BaseModel):
    time: str
    counts: dict[str, int]
    problems: list[ProblemOut]
    timeline: list[BucketOut]


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(request: Request) -> dict[str, Any]:
    """Problems first (each kind: total and first rows), counts by renewal state and of
    endpoints, and current certificates expiring per week over the next year."""
    console: Console = request.app.state.console
    return console.dashboard().to_json()
