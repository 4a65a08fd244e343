"""``audit``: who did what, when, and why (every key read included)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certmgr.repository import AuditEvent, Repository

from certmgr.repository.core import act_for, acting_as

__all__ = ["act_for", "acting_as", "audit_events", "record"]


def audit_events(repo: Repository, *, limit: int = 50, action: str | None = None,
                 obj: str | None = None) -> list[AuditEvent]:
    """The newest ``limit`` audit events, only those of ``action`` / about ``obj`` if given."""
    events: list[AuditEvent] = repo.list_audit(limit=limit, action=action, obj=obj)
    return events


def record(repo: Repository, action: str, obj: str, detail: dict[str, object] | None = None
           ) -> None:
    """An audit event for something a face did (a sign-in, a refused request)."""
    repo.record_event(action, obj, dict(detail or {}))
