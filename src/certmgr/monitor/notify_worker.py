"""Notifications beside the monitor's passes: a worker thread with a bounded queue.

Under ``certmgr monitor --watch`` a pass hands its problems and one-off events to
a :class:`NoticeWorker` and goes on: probing and renewal never wait for a
channel. The queue holds at most one waiting batch: a newer pass's problems
replace the waiting ones (they are the complete list of what is wrong now), its
events are added to the waiting ones (up to :data:`MAX_EVENTS`; beyond that the
oldest are dropped and counted). A channel that is down or slow then costs at
most its own deadline per notice, on this thread only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from certmgr.monitor.notify import Delivery, EventKind, NoticeBoard, Problem

__all__ = ["MAX_EVENTS", "NoticeWorker"]

MAX_EVENTS = 1000


@dataclass
class _Batch:
    problems: list[Problem] | None = None
    scope: Collection[EventKind] | None = None
    events: list[Problem] = field(default_factory=list)


class NoticeWorker:
    """Tells what the board plans on a thread of its own.

    Args:
        board: plans, delivers and records the notices.
        on_done: called (on the worker thread) with each batch's deliveries.
        on_error: called with an exception a batch raised (a bug, a broken state file);
            the worker goes on with the next batch.
    """

    def __init__(self, board: NoticeBoard, on_done: Callable[[list[Delivery]], None],
                 on_error: Callable[[BaseException], None]) -> None:
        self.board = board
        self.on_done = on_done
        self.on_error = on_error
        self.dropped_events = 0
        self.last_failed = 0  # notices that failed in the latest batch, for the metrics
        self._waiting: _Batch | None = None
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="certmgr-notices", daemon=True)
        self._thread.start()

    def submit(self, problems: Iterable[Problem] | None, events: Iterable[Problem] = (), *,
               scope: Collection[EventKind] | None = None) -> None:
        """Queue a pass's problems (None: none looked at) and events; never blocks."""
        with self._cond:
            batch = self._waiting or _Batch()
            if problems is not None:
                batch.problems, batch.scope = list(problems), scope
            batch.events.extend(events)
            if len(batch.events) > MAX_EVENTS:
                self.dropped_events += len(batch.events) - MAX_EVENTS
                del batch.events[:-MAX_EVENTS]
            self._waiting = batch
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is waiting or being delivered; False if ``timeout`` passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self._waiting is None and not self._busy,
                                       timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is waiting (within ``timeout``), then stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting is not None or self._closed)
                batch, self._waiting = self._waiting, None
                if batch is None:
                    return  # closed, nothing left
                self._busy = True
            try:
                deliveries = self._tell(batch)
                self.last_failed = sum(not d.ok for d in deliveries)
                self.on_done(deliveries)
            except Exception as exc:  # noqa: BLE001 - reported; the next batch still goes out
                self.on_error(exc)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _tell(self, batch: _Batch) -> list[Delivery]:
        sends = []
        if batch.problems is not None:
            sends += self.board.plan(batch.problems, scope=batch.scope)
        sends += self.board.plan_events(batch.events)
        return self.board.deliver(sends)
