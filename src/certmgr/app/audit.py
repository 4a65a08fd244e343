"""``audit``: who did what, when, and why (every key read included), and the filters
the CLI, the console's audit page and ``GET /api/v1/audit`` share."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certmgr.errors import InputError

if TYPE_CHECKING:
    from certmgr.repository import AuditEvent, Repository

from certmgr.repository.core import act_for, acting_as

__all__ = ["MAX_LIMIT", "MAX_OFFSET", "RESULTS", "AuditFilter", "AuditPage", "act_for",
           "acting_as", "audit_events", "audit_filter", "audit_page", "record",
           "result_of"]

MAX_LIMIT = 1_000_000  # the CLI's --limit bound; the console asks for pages of 500 at most
MAX_OFFSET = 1_000_000
RESULTS = ("ok", "refused")
# Actions that record something refused or failed (a sign-in, a route, a key download, a
# TOTP confirmation): the ``refused`` result; every other action is ``ok``.
REFUSED_ACTIONS = ("%.failed", "%.denied", "%refused", "%.throttled", "%.error")
_REFUSED = re.compile(r".*(\.failed|\.denied|refused|\.throttled|\.error)")
_TOKEN = re.compile(r"[A-Za-z0-9_.:@/*-]{1,64}")


@dataclass(frozen=True)
class AuditFilter:
    """Which events: all fields optional; ``subject`` is a part of the object (any case),
    ``since``/``until`` bound the time (``until`` exclusive)."""

    action: str | None = None
    actor: str | None = None
    subject: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    result: str | None = None
    obj: str | None = None


@dataclass(frozen=True)
class AuditPage:
    """Events newest first, from ``offset``; ``more``: older ones match too."""

    events: tuple[AuditEvent, ...]
    offset: int
    limit: int
    more: bool


def _when(text: str, what: str, *, end: bool) -> dt.datetime:
    """An ISO date (``until``: the end of that day) or date and time (UTC when no zone)."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            value = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return value + dt.timedelta(days=1) if end else value
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} {text[:40]!r} is not an ISO date: give YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM[:SS] (UTC)") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _token(value: str | None, what: str) -> str | None:
    if not value:
        return None
    if not _TOKEN.fullmatch(value):
        raise InputError(f"{what} {value[:40]!r} is not valid: 1 to 64 letters, digits and "
                         "_ . : @ / * -")
    return value


def audit_filter(*, action: str | None = None, actor: str | None = None,
                 subject: str | None = None, since: str | None = None,
                 until: str | None = None, result: str | None = None,
                 obj: str | None = None) -> AuditFilter:
    """The filter from what a user typed (empty values: no filter).

    Raises:
        InputError: a value is not valid (the message names it and what to give).
    """
    if result and result not in RESULTS:
        raise InputError(f"result {result[:40]!r} is not one of {', '.join(RESULTS)}")
    if subject and (len(subject) > 255 or not subject.isprintable()):
        raise InputError(f"the subject {subject[:40]!r} is not valid: up to 255 printable "
                         "characters")
    start = _when(since.strip(), "since", end=False) if since and since.strip() else None
    end = _when(until.strip(), "until", end=True) if until and until.strip() else None
    if start and end and end <= start:
        raise InputError("until is not after since: give a later until")
    return AuditFilter(_token(action, "action"), _token(actor, "actor"),
                       subject.strip() or None if subject else None, start, end,
                       result or None, obj or None)


def result_of(event: AuditEvent) -> str:
    """``refused`` for an event recording something refused or failed, else ``ok``."""
    return "refused" if _REFUSED.fullmatch(event.action) else "ok"


def audit_page(repo: Repository, where: AuditFilter, *, offset: int = 0,
               limit: int = 50) -> AuditPage:
    """One page of the events ``where`` selects, newest first (bounded: ``limit`` and
    ``offset`` at most 1,000,000)."""
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, min(offset, MAX_OFFSET))
    events = repo.list_audit(
        limit=limit + 1, offset=offset, action=where.action, obj=where.obj,
        actor=where.actor, subject=where.subject, since=where.since, until=where.until,
        actions_like=REFUSED_ACTIONS if where.result == "refused" else (),
        actions_not_like=REFUSED_ACTIONS if where.result == "ok" else ())
    return AuditPage(tuple(events[:limit]), offset, limit, len(events) > limit)


def audit_events(repo: Repository, *, limit: int = 50, action: str | None = None,
                 obj: str | None = None) -> list[AuditEvent]:
    """The newest ``limit`` audit events, only those of ``action`` / about ``obj`` if given."""
    events: list[AuditEvent] = repo.list_audit(limit=limit, action=action, obj=obj)
    return events


def record(repo: Repository, action: str, obj: str, detail: dict[str, object] | None = None
           ) -> None:
    """An audit event for something a face did (a sign-in, a refused request)."""
    repo.record_event(action, obj, dict(detail or {}))
