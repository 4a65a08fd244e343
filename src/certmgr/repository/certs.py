"""Definitions, issuers, requests and certificate versions."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy import (
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session

from certmgr.errors import InputError, NotFound
from certmgr.repository.core import INSERT_AUDIT
from certmgr.repository.decode import cert_from_tuple, definition_from_tuple
from certmgr.repository.inventory import Inventory, split_target
from certmgr.repository.records import (
    CertificateRecord,
    CertificateState,
    DefinitionRecord,
    IssuerKind,
    IssuerRecord,
    RequestRecord,
    RequestState,
)
from certmgr.repository.tables import (
    CertificateRow,
    DefinitionRow,
    DefinitionTargetRow,
    IssuerKeyRow,
    IssuerRow,
    RequestRow,
    table_of,
    utcnow,
)
from certmgr.repository.values import certificate_values, load_cert

__all__ = ["KEY_TYPES", "Certs"]

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519")

# Lists run over 100k rows: JSON and datetime columns come back raw (no per-value
# SQLAlchemy processing) and are decoded by certmgr.repository.decode, several times faster.
_CERT_COLUMNS = (CertificateRow.id, DefinitionRow.name, CertificateRow.version,
                 CertificateRow.serial, CertificateRow.sha256, CertificateRow.subject,
                 type_coerce(CertificateRow.sans, String),
                 type_coerce(CertificateRow.not_before, String),
                 type_coerce(CertificateRow.not_after, String),
                 CertificateRow.issuer, CertificateRow.cert_pem, CertificateRow.chain_pem,
                 CertificateRow.key_id, CertificateRow.state,
                 type_coerce(CertificateRow.created, String))
# The same for definitions (list_definitions over 100k, bulk lookups for `list`).
_DEF_COLUMNS = (DefinitionRow.name, DefinitionRow.cn, type_coerce(DefinitionRow.sans, String),
                DefinitionRow.key_type, DefinitionRow.validity_seconds, DefinitionRow.issuer,
                DefinitionRow.renew_before_seconds, type_coerce(DefinitionRow.targets, String),
                type_coerce(DefinitionRow.data, String),
                type_coerce(DefinitionRow.created, String),
                type_coerce(DefinitionRow.updated, String), DefinitionRow.id)
# add_certificate's statements, prepared once (values as parameters; see core.py).
_CERTS, _REQUESTS = table_of(CertificateRow), table_of(RequestRow)
_LATEST_VERSION = select(
    DefinitionRow.id,
    select(func.max(_CERTS.c.version)).where(_CERTS.c.definition_id == DefinitionRow.id)
    .scalar_subquery(),
).where(DefinitionRow.name == bindparam("name"))
_SUPERSEDE = (update(_CERTS)
              .where(_CERTS.c.definition_id == bindparam("def_id"),
                     _CERTS.c.state == CertificateState.CURRENT.value)
              .values(state=CertificateState.SUPERSEDED.value))
_INSERT_CERT = insert(_CERTS)
_RECEIVED = (update(_REQUESTS).where(_REQUESTS.c.id == bindparam("req_id"))
             .values(state=RequestState.RECEIVED.value, updated=bindparam("now")))
_IN_CHUNK = 500  # names per IN (...) query: below SQLite's bound-parameter limit


class Certs(Inventory):
    """Definitions, issuers, requests and certificates."""

    # -- definitions -----------------------------------------------------------------

    def save_definition(self, definition: DefinitionRecord) -> DefinitionRecord:
        """Create or replace the definition named ``definition.name``.

        Raises:
            InputError: unknown key type, empty name or CN, bad target, bad durations.
        """
        _check_definition(definition)
        with self._tx() as s:
            row = s.scalar(select(DefinitionRow).where(DefinitionRow.name == definition.name))
            now = utcnow()
            if row is None:
                row = DefinitionRow(name=definition.name, created=now)
                s.add(row)
            row.cn, row.sans, row.key_type = definition.cn, list(definition.sans), \
                definition.key_type
            row.validity_seconds = int(definition.validity.total_seconds())
            row.renew_before_seconds = int(definition.renew_before.total_seconds())
            row.issuer, row.targets, row.data = definition.issuer, list(definition.targets), \
                dict(definition.data)
            row.updated = now
            s.flush()
            s.execute(delete(DefinitionTargetRow)
                      .where(DefinitionTargetRow.definition_id == row.id))
            for target in definition.targets:
                host, slot_id = split_target(target)
                s.add(DefinitionTargetRow(definition_id=row.id, host=host, slot_id=slot_id))
            self._audit(s, "definition.save", f"definition:{definition.name}", {})
            s.flush()
            return _definition(row)

    def get_definition(self, name: str) -> DefinitionRecord:
        """Definition ``name``.  Raises NotFound."""
        with self._conn() as conn:
            row = conn.execute(_def_select().where(DefinitionRow.name == name)).first()
        if row is None:
            raise NotFound(f"no definition {name!r} in the repository; see `certmgr list`")
        return definition_from_tuple(row)

    def get_definitions(self, names: Iterable[str]) -> dict[str, DefinitionRecord]:
        """The definitions among ``names`` that exist, by name (absent names are left out).

        One query per 500 names (SQLite allows few bound parameters per
        statement), instead of one per name: ``list --expiring`` looks up
        every definition in its window this way.
        """
        wanted = sorted(set(names))
        found: dict[str, DefinitionRecord] = {}
        with self._conn() as conn:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                for row in conn.execute(_def_select().where(DefinitionRow.name.in_(chunk))):
                    record = definition_from_tuple(row)
                    found[record.name] = record
        return found

    def list_definitions(self) -> list[DefinitionRecord]:
        with self._conn() as conn:
            return [definition_from_tuple(r)
                    for r in conn.execute(_def_select().order_by(DefinitionRow.name))]

    def delete_definition(self, name: str) -> None:
        """Remove a definition with its requests, certificates and deployments."""
        with self._tx() as s:
            s.delete(_definition_row(s, name))
            self._audit(s, "definition.delete", f"definition:{name}", {})

    def definitions_for_target(self, target: str) -> list[DefinitionRecord]:
        """Definitions that deploy to ``[HOST/]SLOT-ID`` (bare: host ``local``)."""
        host, slot_id = split_target(target)
        ids = select(DefinitionTargetRow.definition_id).where(
            DefinitionTargetRow.host == host, DefinitionTargetRow.slot_id == slot_id)
        query = _def_select().where(DefinitionRow.id.in_(ids)).order_by(DefinitionRow.name)
        with self._conn() as conn:
            return [definition_from_tuple(r) for r in conn.execute(query)]

    # -- issuers ---------------------------------------------------------------------

    def save_issuer(self, name: str, kind: IssuerKind | str, *,
                    config: Mapping[str, Any] | None = None, certificates_pem: str = "",
                    keys: Mapping[str, bytes | PrivateKeyTypes] | None = None) -> IssuerRecord:
        """Create or update issuer ``name``; ``keys`` (role -> key) are stored encrypted.

        Roles not given keep their stored key; a role given again gets the new key.
        """
        kind = IssuerKind(kind)
        with self._tx() as s:
            row = s.scalar(select(IssuerRow).where(IssuerRow.name == name))
            now = utcnow()
            if row is None:
                row = IssuerRow(name=name, created=now)
                s.add(row)
            row.kind, row.config, row.certificates_pem = kind.value, dict(config or {}), \
                certificates_pem
            row.updated = now
            s.flush()
            for role, key in (keys or {}).items():
                ref = self._store_key(s, key, kind="issuer")
                s.execute(delete(IssuerKeyRow).where(IssuerKeyRow.issuer_id == row.id,
                                                     IssuerKeyRow.role == role))
                s.add(IssuerKeyRow(issuer_id=row.id, role=role, key_id=ref))
            self._audit(s, "issuer.save", f"issuer:{name}", {"kind": kind.value,
                                                             "keys": sorted(keys or {})})
            s.flush()
            return _issuer(s, row)

    def get_issuer(self, name: str) -> IssuerRecord:
        """Issuer ``name``.  Raises NotFound."""
        with self._tx() as s:
            row = s.scalar(select(IssuerRow).where(IssuerRow.name == name))
            if row is None:
                raise NotFound(f"no issuer {name!r} in the repository; create it first")
            return _issuer(s, row)

    def list_issuers(self) -> list[IssuerRecord]:
        with self._tx() as s:
            return [_issuer(s, r) for r in s.scalars(select(IssuerRow).order_by(IssuerRow.name))]

    # -- requests --------------------------------------------------------------------

    def create_request(self, definition: str, key: bytes | PrivateKeyTypes,
                       csr_pem: str) -> RequestRecord:
        """Store a new key (encrypted) and its CSR as a pending request."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise InputError(f"request for {definition}: the CSR is not PEM") from None
        public = _spki_sha256(csr.public_key())
        with self._tx() as s:
            def_row = _definition_row(s, definition)
            ref = self._store_key(s, key, kind="request")
            now = utcnow()
            row = RequestRow(definition_id=def_row.id, key_id=ref, csr_pem=csr_pem,
                             public_sha256=public, state=RequestState.PENDING.value,
                             created=now, updated=now)
            s.add(row)
            s.flush()
            return _request(row, definition)

    def list_requests(self, *, state: RequestState | None = RequestState.PENDING,
                      definition: str | None = None) -> list[RequestRecord]:
        query = (select(RequestRow, DefinitionRow.name)
                 .join(DefinitionRow, RequestRow.definition_id == DefinitionRow.id)
                 .order_by(RequestRow.id))
        if state is not None:
            query = query.where(RequestRow.state == RequestState(state).value)
        if definition is not None:
            query = query.where(DefinitionRow.name == definition)
        with self._tx() as s:
            return [_request(r, name) for r, name in s.execute(query)]

    def set_request_state(self, request_id: int, state: RequestState) -> RequestRecord:
        """Mark a request received (its certificate came) or cancelled."""
        with self._tx() as s:
            row = s.get(RequestRow, request_id)
            if row is None:
                raise NotFound(f"no request {request_id} in the repository")
            row.state, row.updated = RequestState(state).value, utcnow()
            name = s.scalar(select(DefinitionRow.name)
                            .where(DefinitionRow.id == row.definition_id))
            return _request(row, name or "")

    # -- certificates ----------------------------------------------------------------

    def add_certificate(self, definition: str, cert_pem: str, *, chain_pem: str = "",
                        key: bytes | PrivateKeyTypes | None = None, key_ref: str | None = None,
                        issuer: str | None = None,
                        request_id: int | None = None) -> CertificateRecord:
        """Add the next version of ``definition``'s certificate; it becomes current.

        Args:
            key: the certificate's private key, stored encrypted; or
            key_ref: a key stored already (a request's key).
            issuer: the issuer's name; default the certificate's issuer DN.
            request_id: the request this answers; it is marked received.

        Raises:
            InputError: the PEM is not a certificate.
            NotFound: no such definition.
        """
        values = certificate_values(load_cert(cert_pem, definition), cert_pem, chain_pem,
                                    issuer)
        # The master key before the transaction: a bare connection cannot create one, and
        # on SQLite a second transaction opened inside this one would wait for it.
        master = self._master_key(create=True) if key is not None else None
        # Core statements on a plain connection, not ORM objects in a session: `issue
        # --all` stores one certificate per transaction, and the unit of work cost
        # several times the SQL itself.
        with self._core_tx() as conn:
            found = conn.execute(_LATEST_VERSION, {"name": definition}).first()
            if found is None:
                raise NotFound(f"no definition {definition!r} in the repository; "
                               "see `certmgr list`")
            def_id, last = found
            audit: list[dict[str, Any]] = []
            if key is not None:
                key_ref = self._store_key(conn, key, kind="certificate", master=master,
                                          audit_rows=audit)
            if last is not None:  # a first version has nothing to supersede
                conn.execute(_SUPERSEDE, {"def_id": def_id})
            values.update(definition_id=def_id, version=(last or 0) + 1, key_id=key_ref)
            inserted = conn.execute(_INSERT_CERT, values).inserted_primary_key
            cert_id = int(inserted[0]) if inserted is not None else 0
            if request_id is not None:
                conn.execute(_RECEIVED, {"req_id": request_id, "now": utcnow()})
            audit.append(self._audit_row("certificate.add", f"definition:{definition}",
                                         {"version": values["version"],
                                          "serial": values["serial"]}))
            conn.execute(INSERT_AUDIT, audit)  # both events in one statement
        return CertificateRecord(
            cert_id, definition, values["version"], values["serial"], values["sha256"],
            values["subject"], tuple(values["sans"]), values["not_before"],
            values["not_after"], values["issuer"], cert_pem, chain_pem, key_ref,
            CertificateState.CURRENT, values["created"])

    def current_certificate(self, definition: str) -> CertificateRecord | None:
        """The current version of ``definition``'s certificate, or None."""
        return self._one_cert(DefinitionRow.name == definition,
                              CertificateRow.state == CertificateState.CURRENT.value)

    def get_certificate(self, definition: str, version: int) -> CertificateRecord:
        """Version ``version`` of ``definition``.  Raises NotFound."""
        found = self._one_cert(DefinitionRow.name == definition,
                               CertificateRow.version == version)
        if found is None:
            raise NotFound(f"no version {version} of certificate {definition!r}")
        return found

    def certificate_by_serial(self, serial: str) -> CertificateRecord | None:
        """The certificate with hex serial ``serial`` (any case, colons allowed), or None."""
        return self._one_cert(CertificateRow.serial == serial.replace(":", "").lower())

    def certificate_by_fingerprint(self, sha256: str) -> CertificateRecord | None:
        """The certificate whose DER has SHA-256 ``sha256`` (hex, colons allowed), or None."""
        return self._one_cert(CertificateRow.sha256 == sha256.replace(":", "").lower())

    def list_certificates(self, *, expiring_within: timedelta | None = None,
                          current_only: bool = True, definition: str | None = None,
                          now: datetime | None = None,
                          limit: int | None = None) -> list[CertificateRecord]:
        """Certificates by expiry, soonest first.

        Args:
            expiring_within: only those whose ``not_after`` is before now + this
                (expired ones included).
            current_only: only each definition's current version.
        """
        query = _cert_select().order_by(CertificateRow.not_after, CertificateRow.id)
        if current_only:
            query = query.where(CertificateRow.state == CertificateState.CURRENT.value)
        if expiring_within is not None:
            query = query.where(CertificateRow.not_after <= (now or utcnow()) + expiring_within)
        if definition is not None:
            query = query.where(DefinitionRow.name == definition)
        if limit is not None:
            query = query.limit(limit)
        with self._conn() as conn:
            return [cert_from_tuple(r) for r in conn.execute(query).all()]

    def revoke_certificate(self, definition: str, version: int, *, reason: str = "") -> None:
        """Mark a version revoked (telling the CA is the issuer's job)."""
        with self._tx() as s:
            row = s.scalar(select(CertificateRow).join(DefinitionRow).where(
                DefinitionRow.name == definition, CertificateRow.version == version))
            if row is None:
                raise NotFound(f"no version {version} of certificate {definition!r}")
            row.state = CertificateState.REVOKED.value
            self._audit(s, "certificate.revoke", f"definition:{definition}",
                        {"version": version, "serial": row.serial, "reason": reason})

    def _one_cert(self, *conditions: Any) -> CertificateRecord | None:
        query = _cert_select().where(*conditions).order_by(CertificateRow.version.desc()).limit(1)
        with self._conn() as conn:
            row = conn.execute(query).first()
        return cert_from_tuple(row) if row is not None else None


def _check_definition(d: DefinitionRecord) -> None:
    if not d.name or not d.cn:
        raise InputError("a definition needs a name and a common name (CN)")
    if d.key_type not in KEY_TYPES:
        raise InputError(f"definition {d.name}: key type {d.key_type!r} is not one of "
                         f"{', '.join(KEY_TYPES)}")
    if d.validity <= timedelta(0) or d.renew_before < timedelta(0):
        raise InputError(f"definition {d.name}: validity must be positive and renew-before "
                         "not negative")
    for target in d.targets:
        split_target(target)


def _definition_row(s: Session, name: str) -> DefinitionRow:
    row = s.scalar(select(DefinitionRow).where(DefinitionRow.name == name))
    if row is None:
        raise NotFound(f"no definition {name!r} in the repository; see `certmgr list`")
    return row


def _definition(row: DefinitionRow) -> DefinitionRecord:
    return DefinitionRecord(
        name=row.name, cn=row.cn, sans=tuple(row.sans), key_type=row.key_type,
        validity=timedelta(seconds=row.validity_seconds), issuer=row.issuer,
        renew_before=timedelta(seconds=row.renew_before_seconds), targets=tuple(row.targets),
        data=dict(row.data), created=row.created, updated=row.updated, id=row.id)


def _def_select() -> Any:
    return select(*_DEF_COLUMNS)


def _issuer(s: Session, row: IssuerRow) -> IssuerRecord:
    keys = {k.role: k.key_id for k in s.scalars(
        select(IssuerKeyRow).where(IssuerKeyRow.issuer_id == row.id).order_by(IssuerKeyRow.role))}
    return IssuerRecord(row.name, IssuerKind(row.kind), dict(row.config), row.certificates_pem,
                        keys, row.created, row.updated, row.id)


def _request(row: RequestRow, definition: str) -> RequestRecord:
    return RequestRecord(row.id, definition, row.key_id, row.csr_pem, row.public_sha256,
                         RequestState(row.state), row.created, row.updated)


def _spki_sha256(public: Any) -> str:
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def _cert_select() -> Any:
    return select(*_CERT_COLUMNS).join(DefinitionRow,
                                       CertificateRow.definition_id == DefinitionRow.id)
