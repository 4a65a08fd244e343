"""A job's progress as server-sent events, for the API and the job page alike."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from certmgr.web.console import Console
from certmgr.web.security import ApiError

__all__ = ["STREAM_SECONDS", "job_stream"]

STREAM_SECONDS = 600.0


def job_stream(request: Request, console: Console, job_id: str, *,
               seconds: float | None = None) -> StreamingResponse:
    """A job's events as ``text/event-stream``: one ``data:`` (a JSON string) per progress
    line, then ``event: done`` with the job's state; at most ``seconds`` (default
    :data:`STREAM_SECONDS`) per stream, then ``event: timeout``: reconnect, or read
    ``GET /api/v1/jobs/ID``."""
    seconds = STREAM_SECONDS if seconds is None else seconds
    found = console.jobs.get(job_id)
    if found is None:
        raise ApiError(404, "not_found", f"no job {job_id}")

    async def stream() -> AsyncIterator[str]:
        seen, end = 0, time.monotonic() + seconds
        while time.monotonic() < end:
            lines = await run_in_threadpool(console.jobs.wait, found, seen,
                                            min(1.0, max(0.0, end - time.monotonic())))
            for line in lines:
                yield f"data: {json.dumps(line)}\n\n"
            seen += len(lines)
            if found.done and seen >= len(found.events):
                yield f"event: done\ndata: {json.dumps(found.state)}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(0)
        yield f"event: timeout\ndata: {json.dumps(found.state)}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store"})
