"""The repository's tables (SQLAlchemy 2 ORM), private to the repository package.

The Alembic revisions in ``migrations/versions`` must produce exactly this
schema; ``tests/repository/test_migrations.py`` compares them. Changing a table
here means adding a revision there.

Private keys live in one table, ``private_keys``, always AES-256-GCM encrypted;
every other table refers to them by ``key_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from certmgr.repository.values import utcnow

__all__ = [
    "AuditRow",
    "Base",
    "CertificateRow",
    "DefinitionRow",
    "DefinitionTargetRow",
    "DeploymentFileRow",
    "DeploymentRow",
    "EndpointRow",
    "HostRow",
    "IssuerKeyRow",
    "IssuerRow",
    "MetaRow",
    "ObservationRow",
    "PrivateKeyRow",
    "RequestRow",
    "ServiceRow",
    "SlotRow",
    "UTCDateTime",
    "UserRow",
    "table_of",
    "utcnow",
]

# Stable constraint names, so migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the repository; use an aware UTC one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from a Core text() query
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


def table_of(row: type[Base]) -> Table:
    """The Core table of a row class, for Core statements on hot paths (no ORM plugin)."""
    return Base.metadata.tables[row.__tablename__]


class MetaRow(Base):
    """Repository-wide settings: the master key's mode, salt and check value."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]


class HostRow(Base):
    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(512))
    params: Mapped[dict[str, Any]]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class ServiceRow(Base):
    __tablename__ = "services"
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)
    user: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]


class SlotRow(Base):
    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("host_id", "slot_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("hosts.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"),
                                            index=True)
    slot_id: Mapped[str] = mapped_column(String(255))
    config: Mapped[str | None] = mapped_column(Text)
    names: Mapped[list[Any]]
    cert: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(Text)
    chain: Mapped[str | None] = mapped_column(Text)
    ca: Mapped[str | None] = mapped_column(Text)
    keystore: Mapped[str | None] = mapped_column(Text)
    keystore_type: Mapped[str | None] = mapped_column(String(16))
    data: Mapped[dict[str, Any]]


class EndpointRow(Base):
    __tablename__ = "endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    tls: Mapped[str] = mapped_column(String(32))
    sni: Mapped[str | None] = mapped_column(String(255))


class PrivateKeyRow(Base):
    """An encrypted private key (or the encrypted bytes of a key file kept as a backup)."""

    __tablename__ = "private_keys"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    algorithm: Mapped[str | None] = mapped_column(String(32))
    public_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created: Mapped[datetime]


class DefinitionRow(Base):
    __tablename__ = "definitions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    cn: Mapped[str] = mapped_column(String(255))
    sans: Mapped[list[Any]]
    key_type: Mapped[str] = mapped_column(String(16))
    validity_seconds: Mapped[int] = mapped_column(Integer)
    issuer: Mapped[str | None] = mapped_column(String(255))
    renew_before_seconds: Mapped[int] = mapped_column(Integer)
    targets: Mapped[list[Any]]
    data: Mapped[dict[str, Any]]
    created: Mapped[datetime]
    updated: Mapped[datetime]


class DefinitionTargetRow(Base):
    """One target of a definition, split into host and slot id for lookups."""

    __tablename__ = "definition_targets"
    __table_args__ = (Index("ix_definition_targets_host_slot", "host", "slot_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("definitions.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    slot_id: Mapped[str] = mapped_column(String(255))


class IssuerRow(Base):
    __tablename__ = "issuers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]]
    certificates_pem: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime]
    updated: Mapped[datetime]


class IssuerKeyRow(Base):
    __tablename__ = "issuer_keys"
    __table_args__ = (UniqueConstraint("issuer_id", "role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("issuers.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(ForeignKey("private_keys.id"), index=True)


class RequestRow(Base):
    __tablename__ = "requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("definitions.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("private_keys.id"), index=True)
    csr_pem: Mapped[str] = mapped_column(Text)
    public_sha256: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created: Mapped[datetime]
    updated: Mapped[datetime]


class CertificateRow(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("definition_id", "version"),
        # list --expiring: current certificates by expiry, over 100k rows
        Index("ix_certificates_state_not_after", "state", "not_after"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("definitions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    serial: Mapped[str] = mapped_column(String(64), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    sans: Mapped[list[Any]]
    not_before: Mapped[datetime]
    not_after: Mapped[datetime] = mapped_column(index=True)
    issuer: Mapped[str] = mapped_column(Text)
    cert_pem: Mapped[str] = mapped_column(Text)
    chain_pem: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("private_keys.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime]


class DeploymentRow(Base):
    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_host_slot", "host", "slot_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(
        ForeignKey("definitions.id", ondelete="CASCADE"), index=True)
    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    slot_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    started: Mapped[datetime]
    finished: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]


class DeploymentFileRow(Base):
    """A file as it was before a deployment: plain bytes, or an encrypted key."""

    __tablename__ = "deployment_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(64))
    group: Mapped[str] = mapped_column(String(64))
    mode: Mapped[int] = mapped_column(Integer)
    existed: Mapped[bool] = mapped_column(Boolean)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_id: Mapped[str | None] = mapped_column(ForeignKey("private_keys.id"), index=True)


class ObservationRow(Base):
    __tablename__ = "observations"
    __table_args__ = (
        Index("ix_observations_endpoint", "address", "port", "tls", "time"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str | None] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    tls: Mapped[str] = mapped_column(String(32))
    sni: Mapped[str | None] = mapped_column(String(255))
    time: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    chain_sha256: Mapped[list[Any]]
    leaf_sha256: Mapped[str | None] = mapped_column(String(64))
    not_after: Mapped[datetime | None]
    findings: Mapped[list[Any]]


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean)
    created: Mapped[datetime]
    updated: Mapped[datetime]


class AuditRow(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
