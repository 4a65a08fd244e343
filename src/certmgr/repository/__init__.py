"""certmgr's repository: what certmgr knows and wants, in SQLite or PostgreSQL.

Open it with :func:`open_repository`; its methods return the frozen records of
:mod:`certmgr.repository.records`, never ORM rows. Private keys are stored
encrypted under a master key (a 0600 key file in the home, or a passphrase)
and every read of one is an audit event. :mod:`certmgr.repository.backup`
writes and restores whole-repository snapshots.
"""

from certmgr.repository.api import PASSPHRASE_ENV, Repository, open_repository
from certmgr.repository.certs import KEY_TYPES
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
