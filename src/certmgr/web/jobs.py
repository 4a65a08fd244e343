"""Long operations (issue, deploy, discover) as jobs in a small thread pool.

A job's state is ``queued``, ``running``, ``succeeded`` or ``failed``; its items are
the application layer's :class:`~certmgr.app.results.ItemResult` in JSON, appended
as they finish; its events (one line each) are what the progress stream sends.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from certmgr import redact
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import CertmgrError

__all__ = ["Job", "JobRunner", "Reporter"]

MAX_JOBS_KEPT = 500


@dataclass
class Job:
    id: str
    kind: str
    subject: str
    user: str
    state: str = "queued"
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    finished: dt.datetime | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    error: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # what a screen may run again

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "subject": self.subject, "user": self.user,
                "state": self.state, "created": self.created.isoformat(),
                "finished": self.finished.isoformat() if self.finished else None,
                "items": list(self.items), "error": self.error}


class Reporter:
    """What a job's work calls to report progress and finished items."""

    def __init__(self, job: Job, changed: threading.Condition) -> None:
        self._job = job
        self._changed = changed

    def event(self, line: str) -> None:
        with self._changed:
            self._job.events.append(redact.text(line))
            self._changed.notify_all()

    def step(self, item: str, state: str, reason: str | None = None) -> None:
        """One step of an item as it happens (a slot ``preflight``, ``applied``,
        ``reloaded``); where it ends (``verified``, ``failed``...) is its item line."""
        if state in ("preflight", "applied", "reloaded"):
            self.event(f"{item}: {state}" + (f" ({reason})" if reason else ""))

    def item(self, result: ItemResult) -> None:
        with self._changed:
            self._job.items.append(redact.data(result.to_json()))
            self._job.events.append(redact.text(
                f"{result.item}: {result.status}"
                + (f" ({result.reason})" if result.reason else "")))
            self._changed.notify_all()


Work = Callable[[Reporter], Batch | None]


class JobRunner:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certmgr-job")
        self._jobs: dict[str, Job] = {}
        self.changed = threading.Condition()

    def submit(self, kind: str, subject: str, user: str, work: Work,
               params: dict[str, Any] | None = None) -> Job:
        job = Job(uuid.uuid4().hex, kind, subject, user, params=dict(params or {}))
        with self.changed:
            self._jobs[job.id] = job
            while len(self._jobs) > MAX_JOBS_KEPT:
                oldest = next(iter(self._jobs))
                if not self._jobs[oldest].done:
                    break
                del self._jobs[oldest]
        context = contextvars.copy_context()  # the acting user, for the audit log
        self._pool.submit(context.run, self._run, job, work)
        return job

    def _run(self, job: Job, work: Work) -> None:
        reporter = Reporter(job, self.changed)
        with self.changed:
            job.state = "running"
            self.changed.notify_all()
        try:
            batch = work(reporter)
            ok = batch.ok if batch is not None else True
            if batch is not None and not job.items:
                for result in batch:
                    reporter.item(result)
            state, error = ("succeeded" if ok else "failed"), None
        except CertmgrError as exc:
            state, error = "failed", exc.message
        except Exception as exc:  # noqa: BLE001 - a job's bug is its result, not a crash
            state, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        with self.changed:
            job.state, job.error = state, (None if error is None else redact.text(error))
            job.finished = dt.datetime.now(dt.UTC)
            job.events.append(f"job {state}" + (f": {job.error}" if job.error else ""))
            self.changed.notify_all()

    def get(self, job_id: str) -> Job | None:
        with self.changed:
            return self._jobs.get(job_id)

    def wait(self, job: Job, seen: int, timeout: float) -> list[str]:
        """Events after the first ``seen``, waiting up to ``timeout`` for one."""
        with self.changed:
            if len(job.events) <= seen and not job.done:
                self.changed.wait(timeout)
            return job.events[seen:]

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
