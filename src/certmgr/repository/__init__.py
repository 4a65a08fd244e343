"""certmgr's repository: what certmgr knows and wants, in SQLite or PostgreSQL.

Open it with :func:`open_repository`; its methods return the frozen records of
:mod:`certmgr.repository.records`. There is one implementation, on the DB-API:
the stdlib ``sqlite3`` module, or psycopg 3 for ``postgresql://`` (imported only
then). Every SQL statement lives in this package (:mod:`~certmgr.repository.db`
runs them, :mod:`~certmgr.repository.schema` holds the tables and the plain SQL
migrations); a new database gets the current schema in one step. Private keys
are stored encrypted under a master key (a 0600 key file in the home, or a
passphrase) and every read of one is an audit event.
:mod:`certmgr.repository.backup` writes and restores authenticated
whole-repository snapshots.
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
    TokenRecord,
    UserRecord,
)

if TYPE_CHECKING:
    from certmgr.repository.api import PASSPHRASE_ENV, Repository, open_repository
    from certmgr.repository.certs import KEY_TYPES

# Imported on first use: a command that only needs the records does not load the rest.
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
    "TokenRecord",
    "UserRecord",
    "open_repository",
]
