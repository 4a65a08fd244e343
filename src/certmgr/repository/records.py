"""What the repository API returns: frozen dataclasses, never ORM rows.

Every record carries the values as the rest of certmgr uses them (``Endpoint``,
``timedelta``, aware UTC ``datetime``) and a ``to_json`` giving the shape the
CLI prints with ``--json``. Private keys never appear in a record: a record
names a stored key by its ``key_ref`` and
:meth:`certmgr.repository.Repository.load_private_key` returns the bytes,
recording an audit event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from certmgr.models import Endpoint

__all__ = [
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
    "RequestRecord",
    "RequestState",
    "ServiceRecord",
    "SlotRecord",
    "StoredKey",
    "TokenRecord",
    "UserRecord",
]


class HostKind(str, Enum):
    LOCAL = "local"
    SSH = "ssh"
    LAB = "lab"


class IssuerKind(str, Enum):
    BUILTIN = "builtin"
    ACME = "acme"
    EXTERNAL = "external"


class RequestState(str, Enum):
    PENDING = "pending"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class CertificateState(str, Enum):
    CURRENT = "current"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


class DeploymentState(str, Enum):
    PLANNED = "planned"
    PREFLIGHT = "preflight"
    APPLIED = "applied"
    RELOADED = "reloaded"
    VERIFIED = "verified"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        """True for the states a deployment ends in."""
        return self in (DeploymentState.VERIFIED, DeploymentState.ROLLED_BACK,
                        DeploymentState.FAILED)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, bytes):
        return None  # raw file bytes are not printed; their presence is
    if isinstance(value, Endpoint):
        return value.to_json()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class _Record:
    """Mixin: ``to_json`` for the dataclass records below."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class HostRecord(_Record):
    """A host certmgr manages: ``local``, ``ssh`` (address ``user@host:port``) or ``lab``."""

    name: str
    kind: HostKind
    address: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class ServiceRecord(_Record):
    """One server program instance on a host, as discovery found it."""

    host: str
    kind: str
    config: str
    user: str | None
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class SlotRecord(_Record):
    """One TLS credential a service reads, with the endpoints that serve it."""

    host: str
    slot_id: str
    service_kind: str
    service_config: str
    config: str | None
    names: tuple[str, ...] = ()
    cert: str | None = None
    key: str | None = None
    chain: str | None = None
    ca: str | None = None
    keystore: str | None = None
    keystore_type: str | None = None
    endpoints: tuple[Endpoint, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def target(self) -> str:
        """``HOST/SLOT-ID``, the form definitions name their targets in."""
        return f"{self.host}/{self.slot_id}"


@dataclass(frozen=True)
class DefinitionRecord(_Record):
    """What a certificate must be and where it goes.

    ``targets`` are ``[HOST/]SLOT-ID`` strings; a bare ``SLOT-ID`` means the
    host ``local``.
    """

    name: str
    cn: str
    sans: tuple[str, ...] = ()
    key_type: str = "ec256"
    validity: timedelta = timedelta(days=90)
    issuer: str | None = None
    renew_before: timedelta = timedelta(days=30)
    targets: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class IssuerRecord(_Record):
    """A CA certmgr obtains certificates from.

    ``certificates_pem`` holds the issuer's own certificates (for a builtin CA:
    intermediate then root); ``keys`` maps a role (``root``, ``intermediate``,
    ``account``) to the ``key_ref`` of its stored, encrypted private key.
    """

    name: str
    kind: IssuerKind
    config: dict[str, Any] = field(default_factory=dict)
    certificates_pem: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    created: datetime | None = None
    updated: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class RequestRecord(_Record):
    """A key and CSR waiting for an issuer."""

    id: int
    definition: str
    key_ref: str
    csr_pem: str
    public_key_sha256: str
    state: RequestState
    created: datetime
    updated: datetime


@dataclass(frozen=True)
class CertificateRecord(_Record):
    """One issued certificate: version ``version`` of definition ``definition``."""

    id: int
    definition: str
    version: int
    serial: str
    sha256: str
    subject: str
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    issuer: str
    cert_pem: str
    chain_pem: str
    key_ref: str | None
    state: CertificateState
    created: datetime


@dataclass(frozen=True)
class BackupFile:
    """A file as it was before a deployment replaced it.

    Give ``data`` (the previous bytes) when saving; with ``secret=True`` the
    repository stores them encrypted and records read back carry ``key_ref``
    instead of ``data`` (load them with ``load_private_key``).
    """

    path: str
    owner: str
    group: str
    mode: int
    existed: bool = True
    data: bytes | None = None
    secret: bool = False
    key_ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "data"}
        out["size"] = len(self.data) if self.data is not None else None
        return out


@dataclass(frozen=True)
class DeploymentRecord(_Record):
    """A certificate version going to one slot, and the backup it can return to."""

    id: int
    definition: str
    version: int
    host: str
    slot_id: str
    state: DeploymentState
    reason: str | None
    started: datetime
    finished: datetime | None
    backup: tuple[BackupFile, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out["backup"] = [b.to_json() for b in self.backup]
        return out


@dataclass(frozen=True)
class ObservationRecord(_Record):
    """What an endpoint served at a time."""

    address: str
    port: int
    tls: str
    time: datetime
    ok: bool
    host: str | None = None
    sni: str | None = None
    error: str | None = None
    chain_sha256: tuple[str, ...] = ()
    leaf_sha256: str | None = None
    not_after: datetime | None = None
    findings: tuple[dict[str, Any], ...] = ()
    id: int | None = None


@dataclass(frozen=True)
class UserRecord(_Record):
    """A web console / API user (the password hash never leaves the repository)."""

    name: str
    role: str
    created: datetime
    disabled: bool = False
    id: int | None = None
    hosts: tuple[str, ...] = ()  # shell-style patterns over host names; empty: every host
    must_change: bool = False  # a one-time password: changed at the first sign-in
    totp: bool = False  # a TOTP second factor is enrolled
    origin: str = "local"  # 'local': certmgr's own password; 'ldap': signs in via the directory


@dataclass(frozen=True)
class TokenRecord(_Record):
    """An API bearer token of a user (only its SHA-256 is stored; the token is shown once)."""

    id: int
    user: str
    name: str
    created: datetime
    expires: datetime | None = None
    last_used: datetime | None = None


@dataclass(frozen=True)
class AuditEvent(_Record):
    """Who did what to which object, and why (never key material)."""

    id: int
    time: datetime
    actor: str
    action: str
    object: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredKey(_Record):
    """What the repository knows about a stored private key, without the key."""

    ref: str
    kind: str
    algorithm: str | None
    public_key_sha256: str | None
    created: datetime
