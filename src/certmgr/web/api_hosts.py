"""API for adding an SSH host and reading one host (issue 17: "Hosts"), and a job's
progress as server-sent events ("events stream while it runs")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from certmgr.app import hosts as hosts_uc
from certmgr.web.api import _ERRORS
from certmgr.web.console import Console
from certmgr.web.streams import STREAM_SECONDS, job_stream

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=_ERRORS)

#: the longest one event stream stays open; a client reconnects for more
HostName = Annotated[str, Field(min_length=1, max_length=255)]
JobId = Annotated[str, Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]+$")]


def _console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


class HostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(min_length=6, max_length=512,
                              description="ssh://[user@]host[:port]")]
    key: Annotated[str, Field(min_length=1, max_length=4096,
                              description="Absolute path of the private key to log in "
                                          "with, on the certmgr machine")]
    known_hosts: Annotated[str, Field(min_length=1, max_length=16 * 1024,
                                      description="The server's known_hosts line(s), as "
                                                  "ssh-keyscan prints them")]
    check: bool = Field(default=True, description="Connect once before saving")


@router.post("/hosts", status_code=201, response_model=dict[str, Any])
def add_host(request: Request, body: HostIn) -> dict[str, Any]:
    """Register an SSH host with the server's known_hosts line (``certmgr host add``);
    with ``check``, one connection (host key verified) first."""
    record = hosts_uc.add_ssh_host_line(_console(request), body.url, key=body.key,
                                        known_hosts_line=body.known_hosts, check=body.check)
    return {"name": record.name, "kind": record.kind.value, "address": record.address}


@router.get("/hosts/{host:path}", response_model=dict[str, Any])
def host(request: Request, host: HostName) -> dict[str, Any]:
    """A host with its services and slots (files, endpoints, the definitions targeting them)."""
    return hosts_uc.host_detail(_console(request).repository(), host).to_json()


@router.get("/jobs/{job_id}/events", response_class=Response, responses={200: {
    "content": {"text/event-stream": {"schema": {"type": "string"}}},
    "description": "Server-sent events while the job runs: `data:` lines (JSON strings), "
                   "then `event: done` with the job's state; a stream lasts at most "
                   f"{int(STREAM_SECONDS)} s (`event: timeout`: reconnect)"}})
def job_events(request: Request, job_id: JobId) -> Response:
    """A job's progress as server-sent events, ending when the job ends."""
    return job_stream(request, _console(request), job_id)
