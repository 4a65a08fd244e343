"""Raw row tuples to records.

JSON and datetime columns come back raw from the driver (SQLite's text, or
values psycopg has parsed already) and are decoded here: the certificate and
definition lists run over 100k rows. The SELECTs in :mod:`certmgr.repository.certs`
name their columns in the order these functions expect.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from certmgr.repository.records import (
    CertificateRecord,
    CertificateState,
    DefinitionRecord,
    RequestRecord,
    RequestState,
)

__all__ = ["cert_from_tuple", "decode_json", "decode_utc", "definition_from_tuple",
           "request_from_tuple"]

_STATES = {s.value: s for s in CertificateState}


def decode_json(value: Any) -> Any:
    # SQLite hands back JSON text; psycopg has parsed it already.
    return json.loads(value) if isinstance(value, str) else value


def decode_utc(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite: UTC without an offset
        return datetime.fromisoformat(value + "+00:00")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
    return value.astimezone(UTC)  # type: ignore[no-any-return]


def cert_from_tuple(r: Any) -> CertificateRecord:
    """A certificate from (id, definition name, version, serial, sha256, subject, sans,
    not_before, not_after, issuer, cert_pem, chain_pem, key_id, state, created)."""
    values: tuple[Any, ...] = tuple(r)
    (id_, name, version, serial, sha, subject, sans, nb, na, issuer, pem, chain, key_id,
     state, created) = values
    return CertificateRecord(id_, name, version, serial, sha, subject, tuple(decode_json(sans)),
                             decode_utc(nb), decode_utc(na), issuer, pem, chain, key_id,
                             _STATES[state], decode_utc(created))


def definition_from_tuple(r: Any) -> DefinitionRecord:
    """A definition from (name, cn, sans, key_type, validity_seconds, issuer,
    renew_before_seconds, targets, data, created, updated, id)."""
    values: tuple[Any, ...] = tuple(r)
    (name, cn, sans, key_type, validity, issuer, renew, targets, data, created, updated,
     id_) = values
    return DefinitionRecord(
        name=name, cn=cn, sans=tuple(decode_json(sans)), key_type=key_type,
        validity=timedelta(seconds=validity), issuer=issuer,
        renew_before=timedelta(seconds=renew), targets=tuple(decode_json(targets)),
        data=dict(decode_json(data)), created=decode_utc(created),
        updated=decode_utc(updated), id=id_)


def request_from_tuple(r: Any) -> RequestRecord:
    """A request from (id, definition name, key_id, csr_pem, public_sha256, state,
    created, updated)."""
    id_, name, key_id, csr, public, state, created, updated = tuple(r)
    return RequestRecord(id_, name, key_id, csr, public, RequestState(state),
                         decode_utc(created), decode_utc(updated))
