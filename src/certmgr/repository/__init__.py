"""certmgr's repository: what certmgr knows and wants, in SQLite or PostgreSQL.

Open it with :func:`open_repository`; its methods return the frozen records of
:mod:`certmgr.repository.records`, never ORM rows. Private keys are stored
encrypted under a master key (a 0600 key file in the home, or a passphrase)
and every read of one is an audit event. :mod:`certmgr.repository.backup`
writes and restores whole-repository snapshots.

Hot commands (``list``, ``issue``, ``export``...) go through
:func:`certmgr.repository.sqlite_fast.open_fast_path` instead: the same methods
and rows on a SQLite repository that is already set up, through the stdlib
driver, without importing SQLAlchemy (most of a small command's start-up). A
new Repository method used by such a command either gets its fast-path twin
(tested against the Repository's in ``tests/repository/test_sqlite_fast.py``)
or is forwarded to the full Repository.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from certmgr.repository.records import (
    AuditEvent,
    BackupFile,
    CertificateRecord,
    CertificateState,
    DefinitionRecord,
    DeploymentRecord,
    DeploymentState,
    HostKind,
    HostRecord,
    IssuerKind,
    IssuerRecord,
    ObservationRecord,
    RequestRecord,
    RequestState,
    ServiceRecord,
    SlotRecord,
    StoredKey,
    UserRecord,
)

if TYPE_CHECKING:
    from certmgr.repository.api import PASSPHRASE_ENV, Repository, open_repository
    from certmgr.repository.certs import KEY_TYPES

# The SQLAlchemy side is imported on first use: a command that only needs the records,
# or only reads through certmgr.repository.sqlite_reader, does not pay for SQLAlchemy.
_LAZY = {"PASSPHRASE_ENV": "certmgr.repository.api", "Repository": "certmgr.repository.api",
         "open_repository": "certmgr.repository.api", "KEY_TYPES": "certmgr.repository.certs"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "KEY_TYPES",
    "PASSPHRASE_ENV",
    "AuditEvent",
    "BackupFile",
    "CertificateRecord",
    "CertificateState",
    "DefinitionRecord",
    "DeploymentRecord",
    "DeploymentState",
    "HostKind",
    "HostRecord",
    "IssuerKind",
    "IssuerRecord",
    "ObservationRecord",
    "Repository",
    "RequestRecord",
    "RequestState",
    "ServiceRecord",
    "SlotRecord",
    "StoredKey",
    "UserRecord",
    "open_repository",
]
