"""The application layer: one function per use case, what every face calls.

The CLI (and later the web console and its API, and unattended ACME renewals)
only parse, call these functions and print what they return. Each takes plain
values and the repository (or a :class:`~certmgr.app.context.Context` that
opens it on first use) and returns typed, frozen results; batches return one
:class:`~certmgr.app.results.ItemResult` per item, and one item's failure never
stops the others. Rules live here or below, never in a face:

- :mod:`certmgr.app.definitions`: define, edit, delete, apply a TOML file.
- :mod:`certmgr.app.certificates`: issue, request/receive, import, export, list.
- :mod:`certmgr.app.inventory`: discover, check, layout.
- :mod:`certmgr.app.deploy`: deploy, rollback (and which deployment it goes back to),
  the deployment history.
- :mod:`certmgr.app.scan`: scan, save served chains, import what a scan found.
- :mod:`certmgr.app.monitor`: one monitor (for a pass or for watching), wired to the
  repository, the notifiers, the renewer and the trust rule.
- :mod:`certmgr.app.status`: the one-screen status and its problems.
- :mod:`certmgr.app.audit`: the audit log.
- :mod:`certmgr.app.trust`: the one trust rule's sources (anchors are roots).
- Renewal state: :func:`certmgr.issuers.schedule.renewal_state`, one function for
  ``list``, ``status`` and the monitor.

Submodules are imported by their users, not here: a face pays only for the use
cases it runs (``certmgr list --json`` has a 1 s budget).
"""

from __future__ import annotations

from certmgr.app.context import Context, SimpleContext
from certmgr.app.results import Batch, ItemResult

__all__ = ["Batch", "Context", "ItemResult", "SimpleContext"]
