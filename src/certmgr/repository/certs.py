"""Definitions, issuers, requests and certificate versions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.errors import InputError, NotFound
from certmgr.repository.core import INSERT_AUDIT, AuditRow
from certmgr.repository.db import Tx
from certmgr.repository.decode import (
    cert_from_tuple,
    decode_json,
    decode_utc,
    definition_from_tuple,
    request_from_tuple,
)
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
from certmgr.repository.values import certificate_values, load_cert, utcnow

__all__ = ["KEY_TYPES", "Certs"]

KEY_TYPES = ("ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519")

# Column orders as decode.cert_from_tuple and decode.definition_from_tuple expect them.
_CERT_SELECT = (
    "SELECT c.id, d.name, c.version, c.serial, c.sha256, c.subject, c.sans, c.not_before, "
    "c.not_after, c.issuer, c.cert_pem, c.chain_pem, c.key_id, c.state, c.created "
    "FROM certificates AS c JOIN definitions AS d ON c.definition_id = d.id")
_DEF_SELECT = (
    "SELECT name, cn, sans, key_type, validity_seconds, issuer, renew_before_seconds, "
    "targets, data, created, updated, id FROM definitions")
_REQUEST_SELECT = (
    "SELECT r.id, d.name, r.key_id, r.csr_pem, r.public_sha256, r.state, r.created, "
    "r.updated FROM requests AS r JOIN definitions AS d ON r.definition_id = d.id")
# add_certificate's statements: at most five per certificate (`issue --all` runs one
# transaction per certificate).
_LATEST_VERSION = (
    "SELECT d.id, (SELECT max(c.version) FROM certificates AS c WHERE c.definition_id = d.id) "
    "FROM definitions AS d WHERE d.name = ?")
_SUPERSEDE = "UPDATE certificates SET state = ? WHERE definition_id = ? AND state = ?"
_INSERT_CERT = (
    "INSERT INTO certificates (definition_id, version, serial, sha256, subject, sans, "
    "not_before, not_after, issuer, cert_pem, chain_pem, key_id, state, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")
_RECEIVED = "UPDATE requests SET state = ?, updated = ? WHERE id = ?"
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
        d = definition
        targets = [split_target(t) for t in d.targets]
        with self._db.tx(write=True) as tx:
            now = self._db.time(utcnow())
            values = (d.cn, json.dumps(list(d.sans)), d.key_type,
                      int(d.validity.total_seconds()), d.issuer,
                      int(d.renew_before.total_seconds()), json.dumps(list(d.targets)),
                      json.dumps(dict(d.data)), now)
            def_id = tx.scalar("SELECT id FROM definitions WHERE name = ?", (d.name,))
            if def_id is None:
                def_id = tx.insert(
                    "INSERT INTO definitions (cn, sans, key_type, validity_seconds, issuer, "
                    "renew_before_seconds, targets, data, updated, name, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (*values, d.name, now))
            else:
                tx.execute("UPDATE definitions SET cn = ?, sans = ?, key_type = ?, "
                           "validity_seconds = ?, issuer = ?, renew_before_seconds = ?, "
                           "targets = ?, data = ?, updated = ? WHERE id = ?", (*values, def_id))
            tx.execute("DELETE FROM definition_targets WHERE definition_id = ?", (def_id,))
            tx.executemany("INSERT INTO definition_targets (definition_id, host, slot_id) "
                           "VALUES (?, ?, ?)", [(def_id, h, s) for h, s in targets])
            self._audit(tx, "definition.save", f"definition:{d.name}", {})
            row = tx.one(_DEF_SELECT + " WHERE id = ?", (def_id,))
        assert row is not None
        return definition_from_tuple(row)

    def get_definition(self, name: str) -> DefinitionRecord:
        """Definition ``name``.  Raises NotFound."""
        row = self._db.read().one(_DEF_SELECT + " WHERE name = ?", (name,))
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
        with self._db.tx() as tx:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start:start + _IN_CHUNK]
                sql = f"{_DEF_SELECT} WHERE name IN ({', '.join('?' * len(chunk))})"
                for row in tx.rows(sql, chunk):
                    record = definition_from_tuple(row)
                    found[record.name] = record
        return found

    def list_definitions(self) -> list[DefinitionRecord]:
        return [definition_from_tuple(r)
                for r in self._db.read().rows(_DEF_SELECT + " ORDER BY name")]

    def delete_definition(self, name: str) -> None:
        """Remove a definition with its requests, certificates and deployments."""
        with self._db.tx(write=True) as tx:
            def_id = _definition_id(tx, name)
            tx.execute("DELETE FROM definitions WHERE id = ?", (def_id,))
            self._audit(tx, "definition.delete", f"definition:{name}", {})

    def definitions_for_target(self, target: str) -> list[DefinitionRecord]:
        """Definitions that deploy to ``[HOST/]SLOT-ID`` (bare: host ``local``)."""
        host, slot_id = split_target(target)
        sql = (_DEF_SELECT + " WHERE id IN (SELECT definition_id FROM definition_targets "  # noqa: S608
               "WHERE host = ? AND slot_id = ?) ORDER BY name")
        return [definition_from_tuple(r) for r in self._db.read().rows(sql, (host, slot_id))]

    # -- issuers ---------------------------------------------------------------------

    def save_issuer(self, name: str, kind: IssuerKind | str, *,
                    config: Mapping[str, Any] | None = None, certificates_pem: str = "",
                    keys: Mapping[str, bytes | PrivateKeyTypes] | None = None) -> IssuerRecord:
        """Create or update issuer ``name``; ``keys`` (role -> key) are stored encrypted.

        Roles not given keep their stored key; a role given again gets the new key.
        """
        kind = IssuerKind(kind)
        with self._db.tx(write=True) as tx:
            now = self._db.time(utcnow())
            values = (kind.value, json.dumps(dict(config or {})), certificates_pem, now)
            issuer_id = tx.scalar("SELECT id FROM issuers WHERE name = ?", (name,))
            if issuer_id is None:
                issuer_id = tx.insert("INSERT INTO issuers (kind, config, certificates_pem, "
                                      "updated, name, created) VALUES (?, ?, ?, ?, ?, ?) "
                                      "RETURNING id", (*values, name, now))
            else:
                tx.execute("UPDATE issuers SET kind = ?, config = ?, certificates_pem = ?, "
                           "updated = ? WHERE id = ?", (*values, issuer_id))
            for role, key in (keys or {}).items():
                ref = self._store_key(tx, key, kind="issuer")
                tx.execute("DELETE FROM issuer_keys WHERE issuer_id = ? AND role = ?",
                           (issuer_id, role))
                tx.execute("INSERT INTO issuer_keys (issuer_id, role, key_id) VALUES (?, ?, ?)",
                           (issuer_id, role, ref))
            self._audit(tx, "issuer.save", f"issuer:{name}", {"kind": kind.value,
                                                              "keys": sorted(keys or {})})
            return _issuer(tx, name)

    def get_issuer(self, name: str) -> IssuerRecord:
        """Issuer ``name``.  Raises NotFound."""
        with self._db.tx() as tx:
            return _issuer(tx, name)

    def delete_issuer(self, name: str) -> None:
        """Remove issuer ``name`` and its stored keys.  Raises NotFound."""
        with self._db.tx(write=True) as tx:
            issuer = _issuer(tx, name)
            tx.execute("DELETE FROM issuer_keys WHERE issuer_id = ?", (issuer.id,))
            tx.execute("DELETE FROM issuers WHERE id = ?", (issuer.id,))
            for ref in issuer.keys.values():
                tx.execute("DELETE FROM private_keys WHERE id = ?", (ref,))
            self._audit(tx, "issuer.delete", f"issuer:{name}", {"keys": sorted(issuer.keys)})

    def list_issuers(self) -> list[IssuerRecord]:
        with self._db.tx() as tx:
            names = [r[0] for r in tx.rows("SELECT name FROM issuers ORDER BY name")]
            return [_issuer(tx, n) for n in names]

    # -- requests --------------------------------------------------------------------

    def create_request(self, definition: str, key: bytes | PrivateKeyTypes,
                       csr_pem: str) -> RequestRecord:
        """Store a new key (encrypted) and its CSR as a pending request."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError:
            raise InputError(f"request for {definition}: the CSR is not PEM") from None
        public = _spki_sha256(csr.public_key())
        with self._db.tx(write=True) as tx:
            def_id = _definition_id(tx, definition)
            ref = self._store_key(tx, key, kind="request")
            now = self._db.time(utcnow())
            req_id = tx.insert("INSERT INTO requests (definition_id, key_id, csr_pem, "
                               "public_sha256, state, created, updated) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                               (def_id, ref, csr_pem, public, RequestState.PENDING.value,
                                now, now))
            row = tx.one(_REQUEST_SELECT + " WHERE r.id = ?", (req_id,))
        assert row is not None
        return request_from_tuple(row)

    def list_requests(self, *, state: RequestState | None = RequestState.PENDING,
                      definition: str | None = None) -> list[RequestRecord]:
        where: list[str] = []
        params: list[object] = []
        if state is not None:
            where.append("r.state = ?")
            params.append(RequestState(state).value)
        if definition is not None:
            where.append("d.name = ?")
            params.append(definition)
        sql = _REQUEST_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        return [request_from_tuple(r)
                for r in self._db.read().rows(sql + " ORDER BY r.id", params)]

    def set_request_state(self, request_id: int, state: RequestState) -> RequestRecord:
        """Mark a request received (its certificate came) or cancelled."""
        with self._db.tx(write=True) as tx:
            tx.execute("UPDATE requests SET state = ?, updated = ? WHERE id = ?",
                       (RequestState(state).value, self._db.time(utcnow()), request_id))
            row = tx.one(_REQUEST_SELECT + " WHERE r.id = ?", (request_id,))
            if row is None:
                raise NotFound(f"no request {request_id} in the repository")
        return request_from_tuple(row)

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
        t = self._db.time
        with self._db.tx(write=True) as tx:
            found = tx.one(_LATEST_VERSION, (definition,))
            if found is None:
                raise NotFound(f"no definition {definition!r} in the repository; "
                               "see `certmgr list`")
            def_id, last = found
            audit: list[AuditRow] = []
            if key is not None:
                key_ref = self._store_key(tx, key, kind="certificate", audit_rows=audit)
            if last is not None:  # a first version has nothing to supersede
                tx.execute(_SUPERSEDE, (CertificateState.SUPERSEDED.value, def_id,
                                        CertificateState.CURRENT.value))
            version = (last or 0) + 1
            cert_id = tx.insert(_INSERT_CERT, (
                def_id, version, values["serial"], values["sha256"], values["subject"],
                json.dumps(values["sans"]), t(values["not_before"]), t(values["not_after"]),
                values["issuer"], cert_pem, chain_pem, key_ref, values["state"],
                t(values["created"])))
            if request_id is not None:
                tx.execute(_RECEIVED, (RequestState.RECEIVED.value, t(utcnow()), request_id))
            audit.append(self._audit_row("certificate.add", f"definition:{definition}",
                                         {"version": version, "serial": values["serial"]}))
            tx.executemany(INSERT_AUDIT, audit)
        return CertificateRecord(
            cert_id, definition, version, values["serial"], values["sha256"],
            values["subject"], tuple(values["sans"]), values["not_before"],
            values["not_after"], values["issuer"], cert_pem, chain_pem, key_ref,
            CertificateState.CURRENT, values["created"])

    def current_certificate(self, definition: str) -> CertificateRecord | None:
        """The current version of ``definition``'s certificate, or None."""
        return self._one_cert("d.name = ? AND c.state = ?",
                              (definition, CertificateState.CURRENT.value))

    def get_certificate(self, definition: str, version: int) -> CertificateRecord:
        """Version ``version`` of ``definition``.  Raises NotFound."""
        found = self._one_cert("d.name = ? AND c.version = ?", (definition, int(version)))
        if found is None:
            raise NotFound(f"no version {version} of certificate {definition!r}")
        return found

    def certificate_by_serial(self, serial: str) -> CertificateRecord | None:
        """The certificate with hex serial ``serial`` (any case, colons allowed), or None."""
        return self._one_cert("c.serial = ?", (serial.replace(":", "").lower(),))

    def certificate_by_fingerprint(self, sha256: str) -> CertificateRecord | None:
        """The certificate whose DER has SHA-256 ``sha256`` (hex, colons allowed), or None."""
        return self._one_cert("c.sha256 = ?", (sha256.replace(":", "").lower(),))

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
        where: list[str] = []
        params: list[object] = []
        if current_only:
            where.append("c.state = ?")
            params.append(CertificateState.CURRENT.value)
        if expiring_within is not None:
            where.append("c.not_after <= ?")
            params.append(self._db.time((now or utcnow()) + expiring_within))
        if definition is not None:
            where.append("d.name = ?")
            params.append(definition)
        sql = _CERT_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.not_after, c.id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [cert_from_tuple(r) for r in self._db.read().rows(sql, params)]

    def certificate_page(self, offset: int, limit: int
                         ) -> tuple[list[CertificateRecord], list[DefinitionRecord], int]:
        """One page of what ``list`` shows: current certificates by expiry, then the
        definitions that have none (by name); and how many there are in all."""
        current = CertificateState.CURRENT.value
        # NOT IN over the subquery, computed once: a correlated NOT EXISTS let SQLite pick
        # the (state, not_after) index per definition, quadratic over 100,000 rows
        none = "id NOT IN (SELECT definition_id FROM certificates WHERE state = ?)"
        with self._db.tx() as tx:
            n_current = int(tx.scalar("SELECT count(*) FROM certificates WHERE state = ?",
                                      (current,)) or 0)
            # a definition has at most one current certificate (add_certificate supersedes
            # the one before in the same transaction): those without one are the rest,
            # counted from two index scans instead of an anti-join over 100,000 rows
            n_none = max(0, int(tx.scalar("SELECT count(*) FROM definitions") or 0)
                         - n_current)
            certs = [cert_from_tuple(r) for r in tx.rows(
                _CERT_SELECT + " WHERE c.state = ? ORDER BY c.not_after, c.id LIMIT ? OFFSET ?",
                (current, int(limit), int(offset)))]
            defs: list[DefinitionRecord] = []
            if offset + limit > n_current:
                skip = max(0, offset - n_current)
                defs = [definition_from_tuple(r) for r in tx.rows(
                    f"{_DEF_SELECT} WHERE {none} ORDER BY name LIMIT ? OFFSET ?",
                    (current, int(limit - len(certs)), skip))]
        return certs, defs, n_current + n_none

    def revoke_certificate(self, definition: str, version: int, *, reason: str = "") -> None:
        """Mark a version revoked (telling the CA is the issuer's job)."""
        with self._db.tx(write=True) as tx:
            row = tx.one("SELECT c.id, c.serial FROM certificates AS c JOIN definitions AS d "
                         "ON c.definition_id = d.id WHERE d.name = ? AND c.version = ?",
                         (definition, int(version)))
            if row is None:
                raise NotFound(f"no version {version} of certificate {definition!r}")
            tx.execute("UPDATE certificates SET state = ? WHERE id = ?",
                       (CertificateState.REVOKED.value, row[0]))
            self._audit(tx, "certificate.revoke", f"definition:{definition}",
                        {"version": version, "serial": row[1], "reason": reason})

    def _one_cert(self, condition: str, params: tuple[object, ...]) -> CertificateRecord | None:
        row = self._db.read().one(f"{_CERT_SELECT} WHERE {condition} "
                                  "ORDER BY c.version DESC LIMIT 1", params)
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


def _definition_id(tx: Tx, name: str) -> int:
    found = tx.scalar("SELECT id FROM definitions WHERE name = ?", (name,))
    if found is None:
        raise NotFound(f"no definition {name!r} in the repository; see `certmgr list`")
    return int(found)


def _issuer(tx: Tx, name: str) -> IssuerRecord:
    row = tx.one("SELECT id, kind, config, certificates_pem, created, updated "
                 "FROM issuers WHERE name = ?", (name,))
    if row is None:
        raise NotFound(f"no issuer {name!r} in the repository; create it first")
    id_, kind, config, pem, created, updated = row
    keys = {str(r[0]): str(r[1]) for r in tx.rows(
        "SELECT role, key_id FROM issuer_keys WHERE issuer_id = ? ORDER BY role", (id_,))}
    return IssuerRecord(name, IssuerKind(kind), dict(decode_json(config)), pem, keys,
                        decode_utc(created), decode_utc(updated), id_)


def _spki_sha256(public: Any) -> str:
    spki = public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()
