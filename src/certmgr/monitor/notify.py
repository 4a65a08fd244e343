"""Notifications: what is wrong, told once per period on every channel, and when it clears.

The monitor hands :class:`NoticeBoard` the complete list of current
:class:`Problem` values after each pass. The board compares it with what it
told before (kept in the monitor state file) and sends, per channel:

* ``problem``  the first time a problem is seen (or until that channel got it),
* ``reminder`` when it is still there a ``repeat`` period after the last notice,
* ``resolved`` once, when it is gone, to every channel that was told about it.

One-off events (a certificate was renewed and redeployed) go out once as
``event`` notices through :meth:`NoticeBoard.announce`.

A channel is a :class:`Notifier`: email over SMTP (:class:`EmailNotifier`:
STARTTLS or implicit TLS, AUTH, server certificate verified) or a JSON POST
(:class:`WebhookNotifier`). A failed delivery is a :class:`Delivery` with
``ok=False`` and is retried on the next pass; it never stops the monitor.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

from certmgr import __version__, redact
from certmgr.errors import NotifyError
from certmgr.models import Problem as _Problem
from certmgr.models import Severity
from certmgr.monitor.notify_channels import EmailNotifier, WebhookNotifier
from certmgr.monitor.settings import MonitorSettings
from certmgr.monitor.state import StateFile

__all__ = [
    "Delivery",
    "EmailNotifier",
    "EventKind",
    "Notice",
    "NoticeBoard",
    "NoticeState",
    "Notifier",
    "Problem",
    "WebhookNotifier",
    "build_notifiers",
    "deliver_all",
    "send_test",
]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventKind(str, Enum):
    """What a notice is about."""

    EXPIRING = "expiring"
    EXPIRED = "expired"
    DRIFT = "drift"
    PROBE_FAILED = "probe-failed"
    RENEWAL_FAILED = "renewal-failed"
    DEPLOY_FAILED = "deploy-failed"
    RENEWED = "renewed"
    ISSUER_FAILOVER = "issuer-failover"  # an issuer failed and the next one was asked
    TEST = "test"


class NoticeState(str, Enum):
    PROBLEM = "problem"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    EVENT = "event"  # something happened once (a renewal): no reminder, nothing to resolve
    TEST = "test"


#: The monitor's problems: the one :class:`certmgr.models.Problem`, with a notice kind.
Problem = _Problem[EventKind]


@dataclass(frozen=True)
class Notice:
    """A problem in one state, at one time, ready to be told."""

    state: NoticeState
    problem: Problem
    time: datetime
    since: datetime

    def title(self) -> str:
        label = {NoticeState.RESOLVED: "RESOLVED", NoticeState.TEST: "TEST"}.get(
            self.state, self.problem.severity.value.upper())
        return redact.text(f"[certmgr] {label} {self.problem.kind.value}: "
                           f"{self.problem.subject}")

    def body(self) -> str:
        lines = [self.problem.message if self.state is not NoticeState.RESOLVED
                 else f"Cleared: {self.problem.message}", ""]
        lines.append(f"state:   {self.state.value}")
        lines.append(f"since:   {self.since.isoformat(timespec='seconds')}")
        lines.append(f"checked: {self.time.isoformat(timespec='seconds')}")
        lines.append(f"on:      {socket.gethostname()}")
        lines.extend(f"{k}: {v}" for k, v in sorted(self.problem.detail.items()))
        return redact.text("\n".join(lines) + "\n")

    def to_json(self) -> dict[str, Any]:
        """The notice as a webhook receives it (secrets redacted like every output)."""
        return redact.data(json.loads(json.dumps(self._fields(), default=str)))  # type: ignore[no-any-return]

    def _fields(self) -> dict[str, Any]:
        return {
            "source": "certmgr",
            "version": __version__,
            "monitor_host": socket.gethostname(),
            "state": self.state.value,
            "event": self.problem.kind.value,
            "severity": self.problem.severity.value,
            "subject": self.problem.subject,
            "key": self.problem.key,
            "message": self.problem.message,
            "since": self.since.isoformat(),
            "time": self.time.isoformat(),
            "detail": dict(self.problem.detail),
        }


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notice on one channel."""

    channel: str
    notice: Notice
    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "state": self.notice.state.value,
                "event": self.notice.problem.kind.value, "subject": self.notice.problem.subject,
                "ok": self.ok, "error": self.error}


@runtime_checkable
class Notifier(Protocol):
    """A notification channel.

    Attributes:
        name: the channel's name from the configuration (unique); the state
            file remembers per name what was sent.
    """

    name: str

    def send(self, notice: Notice) -> None:
        """Deliver one notice.

        Raises:
            NotifyError: it was not delivered; the message says where and why,
                never with the password or token.
        """
        ...


def build_notifiers(settings: MonitorSettings) -> list[Notifier]:
    """One notifier per configured channel, email first, in file order."""
    notifiers: list[Notifier] = [EmailNotifier(ch) for ch in settings.email]
    notifiers.extend(WebhookNotifier(ch) for ch in settings.webhooks)
    names = [n.name for n in notifiers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise NotifyError(f"{settings.source or 'monitor.toml'}: two channels are named "
                          f"{duplicates[0]!r}; give each [[notify.*]] a unique name")
    return notifiers


def _deliver(notifier: Notifier, notice: Notice) -> Delivery:
    try:
        notifier.send(notice)
    except NotifyError as exc:
        return Delivery(notifier.name, notice, ok=False, error=redact.text(exc.message))
    return Delivery(notifier.name, notice, ok=True)


def deliver_all(sends: Sequence[tuple[Notifier, Notice]]) -> list[Delivery]:
    """Deliver each (channel, notice), the channels side by side, in the order given.

    Each channel's notices go one after another, each within the channel's own
    deadline; one slow channel never holds up another.
    """
    by_channel: dict[int, list[int]] = {}
    for index, (notifier, _notice) in enumerate(sends):
        by_channel.setdefault(id(notifier), []).append(index)
    out: list[Delivery | None] = [None] * len(sends)
    crashed: list[BaseException] = []

    def run(indexes: list[int]) -> None:
        try:
            for i in indexes:
                out[i] = _deliver(*sends[i])
        except BaseException as exc:  # noqa: BLE001 - a bug: raised again in the caller's thread
            crashed.append(exc)

    if len(by_channel) <= 1:
        for indexes in by_channel.values():
            run(indexes)
    else:
        threads = [threading.Thread(target=run, args=(indexes,), name="certmgr-notify",
                                    daemon=True) for indexes in by_channel.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if crashed:
        raise crashed[0]
    return [d for d in out if d is not None]


def send_test(notifiers: Sequence[Notifier], *, now: datetime | None = None) -> list[Delivery]:
    """Send a test notice on every channel (side by side); the state file is not touched."""
    time = now or utcnow()
    problem = Problem(EventKind.TEST, "notification test",
                      "This is a test notice from certmgr: this channel works.", Severity.INFO)
    notice = Notice(NoticeState.TEST, problem, time, time)
    return deliver_all([(n, notice) for n in notifiers])


# A problem that turned into a worse one of the same subject is replaced, not "resolved".
_ESCALATES_TO = {EventKind.EXPIRING: EventKind.EXPIRED}

Send = tuple[Notifier, Notice]


class NoticeBoard:
    """De-duplicates problems into notices, remembering what was told in the state file.

    The state file is locked only to decide what to tell (:meth:`plan`) and to
    record what was told (after :meth:`deliver`), never while a channel is slow:
    renewal, which keeps its own section there, is not held up by a delivery.

    Args:
        notifiers: the channels.
        state: the monitor state file (section ``notices``).
        repeat: how long an unresolved problem stays quiet after a notice.
        clock: the time source (tests pass their own).
    """

    SECTION: ClassVar[str] = "notices"

    def __init__(self, notifiers: Sequence[Notifier], state: StateFile, repeat: timedelta,
                 clock: Clock = utcnow) -> None:
        self.notifiers = list(notifiers)
        self.state = state
        self.repeat = repeat
        self.clock = clock

    def update(self, problems: Iterable[Problem], *,
               scope: Collection[EventKind] | None = None) -> list[Delivery]:
        """Tell what is new, due again or resolved; return every delivery attempted.

        Args:
            problems: every problem of the kinds in ``scope`` that exists now.
            scope: the kinds this pass looked at (default: all); a remembered
                problem of another kind is left alone rather than resolved.
        """
        return self.deliver(self.plan(problems, scope=scope))

    def announce(self, events: Iterable[Problem]) -> list[Delivery]:
        """Tell one-off events (a certificate renewed) on every channel, without memory."""
        return self.deliver(self.plan_events(events))

    def plan(self, problems: Iterable[Problem], *,
             scope: Collection[EventKind] | None = None) -> list[Send]:
        """Record what exists now; return the notices due (see :meth:`update`)."""
        now = self.clock()
        active = {p.key: p for p in problems}
        sends: list[Send] = []
        with self.state.transaction() as doc:
            book: dict[str, Any] = doc.setdefault(self.SECTION, {})
            for key, problem in active.items():
                entry = book.setdefault(key, _new_entry(problem, now))
                entry.update(message=problem.message, severity=problem.severity.value,
                             detail=_jsonable(problem.detail), last_seen=now.isoformat())
                sends.extend(self._due(problem, entry, now))
            for key in sorted(set(book) - set(active)):
                gone = _problem_of(book[key])
                if gone is None:
                    del book[key]
                elif scope is None or gone.kind in scope:
                    sends.extend(self._resolutions(key, gone, book, active, now))
        return sends

    def plan_events(self, events: Iterable[Problem]) -> list[Send]:
        now = self.clock()
        return [(n, Notice(NoticeState.EVENT, event, now, now))
                for event in events for n in self.notifiers]

    def deliver(self, sends: Sequence[Send]) -> list[Delivery]:
        """Deliver planned notices (channels side by side) and record which arrived."""
        deliveries = deliver_all(sends)
        if any(d.ok and d.notice.state in _REMEMBERED for d in deliveries):
            with self.state.transaction() as doc:
                _record(doc.setdefault(self.SECTION, {}), deliveries)
        return deliveries

    def _due(self, problem: Problem, entry: dict[str, Any], now: datetime) -> list[Send]:
        sent: dict[str, str | None] = entry.setdefault("sent", {})
        since = datetime.fromisoformat(entry["since"])
        out: list[Send] = []
        for notifier in self.notifiers:
            last = sent.get(notifier.name)
            if last is None:
                state = NoticeState.PROBLEM
            elif now - datetime.fromisoformat(last) >= self.repeat:
                state = NoticeState.REMINDER
            else:
                continue
            out.append((notifier, Notice(state, problem, now, since)))
        return out

    def _resolutions(self, key: str, problem: Problem, book: dict[str, Any],
                     active: Mapping[str, Problem], now: datetime) -> list[Send]:
        entry = book[key]
        worse = _ESCALATES_TO.get(problem.kind)
        if worse is not None and f"{worse.value} {problem.subject}" in active:
            del book[key]
            return []
        told = {name for name, at in entry.get("sent", {}).items() if at is not None}
        # Channels removed from the configuration can no longer be told.
        told &= {n.name for n in self.notifiers}
        if not told:
            del book[key]
            return []
        entry["sent"] = {name: entry["sent"][name] for name in told}
        since = datetime.fromisoformat(entry["since"])
        return [(n, Notice(NoticeState.RESOLVED, problem, now, since))
                for n in self.notifiers if n.name in told]


_REMEMBERED = (NoticeState.PROBLEM, NoticeState.REMINDER, NoticeState.RESOLVED)


def _record(book: dict[str, Any], deliveries: Iterable[Delivery]) -> None:
    """Note in the book which notices arrived: a problem told (when), a resolution told
    (that channel needs telling no more; the entry goes when no channel does)."""
    for d in deliveries:
        entry = book.get(d.notice.problem.key)
        if not d.ok or entry is None:
            continue
        sent = entry.setdefault("sent", {})
        if d.notice.state is NoticeState.RESOLVED:
            sent.pop(d.channel, None)
            if not any(at is not None for at in sent.values()):
                del book[d.notice.problem.key]
        elif d.notice.state in _REMEMBERED:
            sent[d.channel] = d.notice.time.isoformat()


def _new_entry(problem: Problem, now: datetime) -> dict[str, Any]:
    return {"kind": problem.kind.value, "subject": problem.subject, "since": now.isoformat(),
            "sent": {}}


def _problem_of(entry: Any) -> Problem | None:
    try:
        return Problem(EventKind(entry["kind"]), str(entry["subject"]), str(entry["message"]),
                       Severity(entry.get("severity", "error")), dict(entry.get("detail", {})))
    except (KeyError, ValueError, TypeError):
        return None  # a damaged or foreign entry: forget it


def _jsonable(detail: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(detail), default=str))  # type: ignore[no-any-return]
