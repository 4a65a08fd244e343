"""Named checkpoints of a deployment, and cancellation.

Every step of a deployment that changes something announces itself first with
:func:`checkpoint` (``"rename"``, ``"reload"``, ``"rollback-step"``...). Two
things listen:

* hooks added with :func:`add_hook`: the crash-consistency tests use one (see
  ``certmgr.testing.faults``) that SIGKILLs the process at a chosen checkpoint;
* cancellation: after :func:`request_cancel` (SIGTERM) every checkpoint raises
  :class:`DeployInterrupted`, so each worker stops at its next step boundary and
  rolls back what it did, last in first out.

The product itself never installs a hook.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from certmgr.errors import DeployError

__all__ = [
    "CHECKPOINTS",
    "DeployInterrupted",
    "add_hook",
    "cancel_requested",
    "checkpoint",
    "clear_cancel",
    "request_cancel",
]

# Every name :func:`checkpoint` is called with, in the order a deployment reaches them.
CHECKPOINTS: tuple[str, ...] = (
    "read-old",         # the file about to be replaced is about to be read for the journal
    "journal-record",   # the journal entry for the next change is durable; nothing changed yet
    "mkdir",            # a missing directory is about to be created
    "temp-write",       # the temp file exists with its final mode and holds half of the data
    "fsync",            # the temp file holds all the data, not yet fsynced
    "rename",           # the temp file is durable, about to replace the target
    "dir-fsync",        # renamed, the directory entry not yet durable
    "config-edit",      # a program's configuration file is about to be rewritten
    "reload",           # files in place, the program is about to be reloaded
    "verify",           # reloaded, about to probe the endpoints
    "rollback-step",    # a rollback is about to undo one recorded change
    "rollback-read",    # a rollback is about to read a file to see if it needs restoring
    "rollback-reload",  # rollback restored the files, about to reload the program
    "rollback-verify",  # rollback reloaded, about to probe for the old certificate
)

Hook = Callable[[str], None]

_hooks: list[Hook] = []
_cancel = threading.Event()


class DeployInterrupted(DeployError):
    """The deployment was asked to stop (SIGTERM) and rolled back what it had done."""


def add_hook(hook: Hook) -> Callable[[], None]:
    """Call ``hook(name)`` at every checkpoint; returns a function that removes it."""
    _hooks.append(hook)

    def remove() -> None:
        if hook in _hooks:
            _hooks.remove(hook)

    return remove


def checkpoint(name: str) -> None:
    """Announce the step ``name`` (one of :data:`CHECKPOINTS`).

    Raises:
        DeployInterrupted: cancellation was requested; the caller must roll back.
    """
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {name!r}")
    for hook in list(_hooks):
        hook(name)
    if _cancel.is_set() and not name.startswith("rollback"):
        raise DeployInterrupted(f"deployment interrupted before step {name}; rolled back")


def request_cancel() -> None:
    """Make every later (non-rollback) checkpoint raise :class:`DeployInterrupted`."""
    _cancel.set()


def cancel_requested() -> bool:
    return _cancel.is_set()


def clear_cancel() -> None:
    _cancel.clear()
