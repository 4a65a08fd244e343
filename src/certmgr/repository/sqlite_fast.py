"""The Repository's hot paths on a SQLite repository, through the stdlib driver.

Importing SQLAlchemy costs more CPU than everything else a small command does
(about 0.25 s on the 2-core bench machine), and ``certmgr list`` and
``certmgr issue`` need only a few statements. :func:`open_fast_path` serves
them from a repository that is already fully set up: a SQLite file at the
shipped schema revision, in WAL mode, whose master key is recorded and
protected by a key file that matches (or is absent: then only reads are
served here). In any other case it returns None and the caller opens the full
:class:`~certmgr.repository.Repository`, which creates, upgrades or refuses
the database with its own messages.

The methods here take the same arguments, store the same rows (values from
:mod:`certmgr.repository.values`, SQLAlchemy's SQLite formats for JSON and
datetimes) and return the same records as the Repository's methods of the
same names; ``tests/repository/test_sqlite_fast.py`` compares both. Every
other Repository attribute is forwarded to a full Repository opened on first
use, so a :class:`SqliteFastPath` can stand in for one.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.errors import CertmgrError, NotFound, RepositoryError
from certmgr.repository import masterkey as mk
from certmgr.repository.decode import (
    HEAD_REVISION,
    cert_from_tuple,
    decode_json,
    decode_utc,
    definition_from_tuple,
    request_from_tuple,
)
from certmgr.repository.records import (
    CertificateRecord,
    CertificateState,
    DefinitionRecord,
    IssuerKind,
    IssuerRecord,
    RequestRecord,
    RequestState,
)
from certmgr.repository.values import (
    certificate_values,
    default_actor,
    describe_key,
    key_bytes,
    key_identity,
    load_cert,
    utcnow,
)

__all__ = ["SqliteFastPath", "open_fast_path"]

DB_FILE_NAME = "certmgr.db"  # engine.DB_FILE_NAME (engine imports SQLAlchemy)
_MASTER_META = "master_key"  # core.MASTER_META
# Plain sqlite:///PATH URLs only; anything else (query options, escapes) takes the full path.
_URL = re.compile(r"sqlite:///([^?#%]+)")
_IN_CHUNK = 500  # names per IN (...): below SQLite's bound-parameter limit

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
# add_certificate's statements: the same as certs.py issues through SQLAlchemy Core.
_LATEST_VERSION = (
    "SELECT d.id, (SELECT max(c.version) FROM certificates AS c WHERE c.definition_id = d.id) "
    "FROM definitions AS d WHERE d.name = ?")
_SUPERSEDE = "UPDATE certificates SET state = ? WHERE definition_id = ? AND state = ?"
_INSERT_CERT = (
    "INSERT INTO certificates (definition_id, version, serial, sha256, subject, sans, "
    "not_before, not_after, issuer, cert_pem, chain_pem, key_id, state, created) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_RECEIVED = "UPDATE requests SET state = ?, updated = ? WHERE id = ?"
_INSERT_KEY = ("INSERT INTO private_keys (id, kind, algorithm, public_sha256, ciphertext, "
               "created) VALUES (?, ?, ?, ?, ?, ?)")
_INSERT_AUDIT = ("INSERT INTO audit_events (time, actor, action, object, detail) "
                 "VALUES (?, ?, ?, ?, ?)")


def _stored_time(value: datetime) -> str:
    # How SQLAlchemy's SQLite DateTime stores our (UTC) datetimes; compared as text.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _stored_json(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's JSON type on SQLite: json.dumps, defaults


def _database_path(db_url: str | None, home: Path) -> Path | None:
    if not db_url:
        return home / DB_FILE_NAME
    match = _URL.fullmatch(db_url)
    return Path(match.group(1)) if match else None


def open_fast_path(db_url: str | None, home: Path, *,
                   full: Callable[[], Any] | None = None) -> SqliteFastPath | None:
    """The fast path to the SQLite repository ``db_url`` (None: the one in ``home``), or
    None when only :func:`~certmgr.repository.open_repository` may open it (not SQLite,
    not there yet, another schema revision, no master key yet, a passphrase, a master
    key file that does not match, a damaged file...).

    Args:
        full: opens the full Repository for the methods not served here (default:
            ``open_repository(db_url, home)``, closed with this object).
    """
    home = Path(home).expanduser()
    path = _database_path(db_url, home)
    # What open_repository would refuse or create (masterkey.ensure_home) is left to it.
    if path is None or not path.is_file() or not os.access(home, os.W_OK | os.X_OK):
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True,
                               isolation_level=None, timeout=30)
    except sqlite3.Error:
        return None
    try:
        usable, master = _check(conn, home)
        if usable:
            if full is None:
                return SqliteFastPath(conn, path, master, lambda: _open_full(db_url, home),
                                      owns_full=True)
            return SqliteFastPath(conn, path, master, full)
    except (sqlite3.Error, CertmgrError, ValueError, KeyError, TypeError):
        pass
    conn.close()
    return None


def _open_full(db_url: str | None, home: Path) -> Any:
    from certmgr.repository.api import open_repository

    return open_repository(db_url, home)


def _check(conn: sqlite3.Connection, home: Path) -> tuple[bool, mk.MasterKey | None]:
    """(usable, the master key if its file is there) for a connection to a candidate."""
    conn.execute("PRAGMA busy_timeout=30000")
    mode = conn.execute("PRAGMA journal_mode").fetchone()
    if mode is None or str(mode[0]).lower() != "wal":
        return False, None
    # The same per-connection settings as the SQLAlchemy engine (engine._sqlite_on_connect).
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    tables = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
        "('alembic_version', 'meta', 'certificates')")}
    if len(tables) != 3:
        return False, None
    versions = [r[0] for r in conn.execute("SELECT version_num FROM alembic_version")]
    if versions != [HEAD_REVISION]:
        return False, None
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_MASTER_META,)).fetchone()
    if row is None:
        return False, None
    meta = decode_json(row[0])
    # The Repository checks the master key on open, and so does this. A passphrase takes
    # the full path (its derivation costs more than the path saves).
    if meta["mode"] != "file":
        return False, None
    key_file = home / mk.KEY_FILE_NAME
    if not key_file.exists():
        return True, None  # as Repository.verify_master_key: what needs no key still works
    master = mk.read_key_file(key_file)
    if mk.check_value(master.key) != meta["check"]:
        return False, None
    return True, master


class SqliteFastPath:
    """Listing, issuing and exporting on a set-up SQLite repository; the rest goes to the
    Repository."""

    def __init__(self, conn: sqlite3.Connection, path: Path, master: mk.MasterKey | None,
                 full: Callable[[], Any], *, owns_full: bool = False,
                 actor: str | None = None) -> None:
        self._conn = conn
        self._shown = f"sqlite:///{path}"
        self._master = master
        self._open_full = full
        self._owns_full = owns_full
        self._full: Any = None
        self.actor = actor or default_actor()

    def __getattr__(self, name: str) -> Any:
        # Only reached for names not defined here: the full Repository's other methods.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._repository(), name)

    def _repository(self) -> Any:
        if self._full is None:
            self._full = self._open_full()
        return self._full

    def close(self) -> None:
        self._conn.close()
        if self._owns_full and self._full is not None:
            self._full.close()
        self._full = None

    def __enter__(self) -> SqliteFastPath:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements ------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as one-line RepositoryErrors, worded as the Repository's."""
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise RepositoryError(f"repository {self._shown} refused the change: {exc}") \
                from None
        except sqlite3.Error as exc:
            raise RepositoryError(f"repository {self._shown}: {exc}") from None

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._errors():
            return self._conn.execute(sql, tuple(params)).fetchall()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write lock at once (BEGIN IMMEDIATE, as the engine
        does for writers), committed on success, rolled back on any error."""
        conn = self._conn
        with self._errors():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _audit_row(self, action: str, obj: str, detail: dict[str, Any],
                   actor: str | None = None) -> tuple[Any, ...]:
        return (_stored_time(utcnow()), actor or self.actor, action, obj, _stored_json(detail))

    # -- reads -----------------------------------------------------------------------

    def list_certificates(self, *, expiring_within: timedelta | None = None,
                          current_only: bool = True, definition: str | None = None,
                          now: datetime | None = None,
                          limit: int | None = None) -> list[CertificateRecord]:
        """As :meth:`certmgr.repository.Repository.list_certificates`."""
        where: list[str] = []
        params: list[Any] = []
        if current_only:
            where.append("c.state = ?")
            params.append(CertificateState.CURRENT.value)
        if expiring_within is not None:
            where.append("c.not_after <= ?")
            params.append(_stored_time((now or utcnow()) + expiring_within))
        if definition is not None:
            where.append("d.name = ?")
            params.append(definition)
        sql = _CERT_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.not_after, c.id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [cert_from_tuple(r) for r in self._rows(sql, params)]

    def current_certificate(self, definition: str) -> CertificateRecord | None:
        """As :meth:`certmgr.repository.Repository.current_certificate`."""
        rows = self._rows(_CERT_SELECT + " WHERE d.name = ? AND c.state = ? "
                          "ORDER BY c.version DESC LIMIT 1",
                          (definition, CertificateState.CURRENT.value))
        return cert_from_tuple(rows[0]) if rows else None

    def get_definition(self, name: str) -> DefinitionRecord:
        """As :meth:`certmgr.repository.Repository.get_definition`."""
        rows = self._rows(_DEF_SELECT + " WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no definition {name!r} in the repository; see `certmgr list`")
        return definition_from_tuple(rows[0])

    def get_definitions(self, names: Iterable[str]) -> dict[str, DefinitionRecord]:
        """As :meth:`certmgr.repository.Repository.get_definitions`."""
        wanted = sorted(set(names))
        found: dict[str, DefinitionRecord] = {}
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start:start + _IN_CHUNK]
            sql = f"{_DEF_SELECT} WHERE name IN ({', '.join('?' * len(chunk))})"
            for row in self._rows(sql, chunk):
                record = definition_from_tuple(row)
                found[record.name] = record
        return found

    def list_definitions(self) -> list[DefinitionRecord]:
        """As :meth:`certmgr.repository.Repository.list_definitions`."""
        return [definition_from_tuple(r) for r in self._rows(_DEF_SELECT + " ORDER BY name")]

    def list_requests(self, *, state: RequestState | None = RequestState.PENDING,
                      definition: str | None = None) -> list[RequestRecord]:
        """As :meth:`certmgr.repository.Repository.list_requests`."""
        where: list[str] = []
        params: list[Any] = []
        if state is not None:
            where.append("r.state = ?")
            params.append(RequestState(state).value)
        if definition is not None:
            where.append("d.name = ?")
            params.append(definition)
        sql = _REQUEST_SELECT + (" WHERE " + " AND ".join(where) if where else "")
        return [request_from_tuple(r) for r in self._rows(sql + " ORDER BY r.id", params)]

    def get_issuer(self, name: str) -> IssuerRecord:
        """As :meth:`certmgr.repository.Repository.get_issuer`."""
        rows = self._rows("SELECT id, kind, config, certificates_pem, created, updated "
                          "FROM issuers WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no issuer {name!r} in the repository; create it first")
        id_, kind, config, pem, created, updated = rows[0]
        keys = dict(self._rows("SELECT role, key_id FROM issuer_keys WHERE issuer_id = ? "
                               "ORDER BY role", (id_,)))
        return IssuerRecord(name, IssuerKind(kind), dict(decode_json(config)), pem, keys,
                            decode_utc(created), decode_utc(updated), id_)

    # -- writes ----------------------------------------------------------------------

    def load_private_key(self, ref: str, *, reason: str, actor: str | None = None) -> bytes:
        """As :meth:`certmgr.repository.Repository.load_private_key` (audited)."""
        if self._master is None:  # no key file: the Repository says what is missing
            return bytes(self._repository().load_private_key(ref, reason=reason, actor=actor))
        with self._write() as conn:
            row = conn.execute("SELECT kind, ciphertext FROM private_keys WHERE id = ?",
                               (ref,)).fetchone()
            if row is None:
                raise NotFound(f"no stored private key {ref!r} in the repository")
            plaintext = self._master.open(row[1], key_identity(ref))
            conn.execute(_INSERT_AUDIT, self._audit_row(
                "key.read", f"key:{ref}", {"kind": row[0], "reason": reason}, actor))
        return plaintext

    def add_certificate(self, definition: str, cert_pem: str, *, chain_pem: str = "",
                        key: bytes | PrivateKeyTypes | None = None, key_ref: str | None = None,
                        issuer: str | None = None,
                        request_id: int | None = None) -> CertificateRecord:
        """As :meth:`certmgr.repository.Repository.add_certificate`: one transaction of
        at most five statements (the key, the superseded version, the certificate, the
        request, both audit events in one)."""
        if key is not None and self._master is None:
            record: CertificateRecord = self._repository().add_certificate(
                definition, cert_pem, chain_pem=chain_pem, key=key, key_ref=key_ref,
                issuer=issuer, request_id=request_id)
            return record
        values = certificate_values(load_cert(cert_pem, definition), cert_pem, chain_pem,
                                    issuer)
        with self._write() as conn:
            found = conn.execute(_LATEST_VERSION, (definition,)).fetchone()
            if found is None:
                raise NotFound(f"no definition {definition!r} in the repository; "
                               "see `certmgr list`")
            def_id, last = found
            audit: list[tuple[Any, ...]] = []
            if key is not None:
                key_ref = self._insert_key(conn, key, "certificate", audit)
            if last is not None:  # a first version has nothing to supersede
                conn.execute(_SUPERSEDE, (CertificateState.SUPERSEDED.value, def_id,
                                          CertificateState.CURRENT.value))
            version = (last or 0) + 1
            cursor = conn.execute(_INSERT_CERT, (
                def_id, version, values["serial"], values["sha256"], values["subject"],
                _stored_json(values["sans"]), _stored_time(values["not_before"]),
                _stored_time(values["not_after"]), values["issuer"], cert_pem, chain_pem,
                key_ref, values["state"], _stored_time(values["created"])))
            if request_id is not None:
                conn.execute(_RECEIVED, (RequestState.RECEIVED.value, _stored_time(utcnow()),
                                         request_id))
            audit.append(self._audit_row("certificate.add", f"definition:{definition}",
                                         {"version": version, "serial": values["serial"]}))
            conn.executemany(_INSERT_AUDIT, audit)
        return CertificateRecord(
            int(cursor.lastrowid or 0), definition, version, values["serial"],
            values["sha256"], values["subject"], tuple(values["sans"]), values["not_before"],
            values["not_after"], values["issuer"], cert_pem, chain_pem, key_ref,
            CertificateState.CURRENT, values["created"])

    def _insert_key(self, conn: sqlite3.Connection, key: bytes | PrivateKeyTypes, kind: str,
                    audit: list[tuple[Any, ...]]) -> str:
        # As RepositoryCore._store_key: encrypted under the master key, bound to its row id.
        if self._master is None:  # pragma: no cover - callers go to the Repository then
            raise RepositoryError("no master key to store a private key with")
        data, obj = key_bytes(key)
        ref = uuid.uuid4().hex
        algorithm, public = describe_key(obj)
        conn.execute(_INSERT_KEY, (ref, kind, algorithm, public,
                                   self._master.seal(data, key_identity(ref)),
                                   _stored_time(utcnow())))
        audit.append(self._audit_row("key.store", f"key:{ref}",
                                     {"kind": kind, "algorithm": algorithm}))
        return ref
