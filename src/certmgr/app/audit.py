"""``audit``: who did what, when, and why (every key read included)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certmgr.repository import AuditEvent, Repository

__all__ = ["audit_events"]


def audit_events(repo: Repository, *, limit: int = 50, action: str | None = None,
                 obj: str | None = None) -> list[AuditEvent]:
    """The newest ``limit`` audit events, only those of ``action`` / about ``obj`` if given."""
    events: list[AuditEvent] = repo.list_audit(limit=limit, action=action, obj=obj)
    return events
