"""The repository's core: sessions, the master key, encrypted private keys, audit.

The other parts of the API (``inventory``, ``certs``, ``operations``) build on
:class:`RepositoryCore`. Each public method is one transaction; sessions never
leave the package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from certmgr.errors import MasterKeyError, NotFound, RepositoryError
from certmgr.repository import masterkey as mk
from certmgr.repository.engine import WRITE_OPTION, display_url
from certmgr.repository.records import AuditEvent, StoredKey
from certmgr.repository.tables import AuditRow, MetaRow, PrivateKeyRow, table_of, utcnow
from certmgr.repository.values import default_actor, describe_key, key_bytes, key_identity

__all__ = ["INSERT_AUDIT", "RepositoryCore", "default_actor"]

MASTER_META = "master_key"
# Prepared once, values passed as parameters: a statement with its values inlined
# (``.values(...)``) is re-keyed for the compiled cache on every execution.
_INSERT_KEY = insert(table_of(PrivateKeyRow))
INSERT_AUDIT = insert(table_of(AuditRow))


class RepositoryCore:
    """Sessions, master key, private keys and audit; see :class:`Repository`."""

    def __init__(self, engine: Engine, url: URL, home: Path, *, passphrase: str | None,
                 actor: str | None) -> None:
        self._engine = engine
        self._url = url
        self._home = home
        self._passphrase = passphrase
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._sessions = sessionmaker(self._writer, expire_on_commit=False)
        self._master: mk.MasterKey | None = None
        self.actor = actor or default_actor()

    # -- lifecycle -----------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self._home

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._url.get_backend_name()

    @property
    def key_file(self) -> Path:
        """Where the master key file lives (used when no passphrase protects the repository)."""
        return self._home / mk.KEY_FILE_NAME

    def url_for_display(self) -> str:
        """The repository URL with any password masked."""
        return display_url(self._url)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> RepositoryCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._errors(), self._sessions.begin() as session:
            yield session

    @contextmanager
    def _core_tx(self) -> Iterator[Connection]:
        """Like :meth:`_tx` without the ORM session, for hot write paths (Core only)."""
        with self._errors(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _conn(self) -> Iterator[Connection]:
        """A plain connection for fast Core reads (lists over many rows)."""
        with self._errors(), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as one-line RepositoryErrors naming the repository."""
        try:
            yield
        except IntegrityError as exc:
            raise RepositoryError(f"repository {self.url_for_display()} refused the change: "
                                  f"{_first_line(exc)}") from None
        except SQLAlchemyError as exc:
            raise RepositoryError(f"repository {self.url_for_display()}: "
                                  f"{_first_line(exc)}") from None

    # -- master key ------------------------------------------------------------------

    def master_key_info(self) -> dict[str, Any]:
        """How this repository's keys are protected: ``mode`` (file, passphrase or none) and
        for a key file its ``path`` (which must be kept apart from backups)."""
        with self._tx() as s:
            meta = s.get(MetaRow, MASTER_META)
            mode = meta.value["mode"] if meta is not None else "none"
        info: dict[str, Any] = {"mode": mode}
        if mode in ("file", "none"):
            info["path"] = str(self.key_file)
        return info

    def ensure_master_key(self) -> str:
        """Set up the master key if the repository has none yet; return its mode.

        A passphrase (given to :func:`open_repository` or in ``CERTMGR_PASSPHRASE``)
        protects a new repository; otherwise a key file is created 0600 in the home
        (an existing one there is adopted).

        Raises:
            MasterKeyError: the key file or passphrase does not match the repository.
        """
        # Every command opens the repository: a plain read first, so that a read-only
        # command takes no write lock (BEGIN IMMEDIATE) once the key exists.
        value = self._master_meta()
        if value is not None:
            return str(value["mode"])  # checked by verify_master_key when usable
        with self._tx() as s:
            meta = s.get(MetaRow, MASTER_META)
            if meta is not None:
                return str(meta.value["mode"])
            return self._master_key(create=True, session=s).source

    def verify_master_key(self) -> None:
        """Check now that the available key file or passphrase opens this repository.

        Does nothing when the repository has no master key yet, or when the key
        material is absent (commands that read no key still work then).

        Raises:
            MasterKeyError: a key file or passphrase is there but is the wrong one.
        """
        value = self._master_meta()
        if value is None:
            return
        if value["mode"] == "passphrase" and not self._passphrase:
            return
        if value["mode"] == "file" and not self.key_file.exists():
            return
        self._master = self._unlock(value)

    def _master_meta(self) -> dict[str, Any] | None:
        """The master key's record (mode, salt, check value), read without a write lock."""
        with self._conn() as conn:
            value = conn.execute(select(MetaRow.value).where(MetaRow.key == MASTER_META)
                                 ).scalar()
        return dict(value) if value is not None else None

    def _master_key(self, *, create: bool, session: Session | None = None) -> mk.MasterKey:
        if self._master is not None:
            return self._master
        if session is None:
            with self._tx() as s:
                return self._master_key(create=create, session=s)
        meta = session.get(MetaRow, MASTER_META)
        if meta is not None:
            self._master = self._unlock(dict(meta.value))
            return self._master
        if not create:
            raise MasterKeyError("this repository has no master key yet; run `certmgr init`")
        master, value = self._new_master()
        session.add(MetaRow(key=MASTER_META, value=value))
        self._audit(session, "master_key.create", "repository", {"mode": value["mode"]})
        # Not cached: if this transaction rolls back, the record (and salt) is gone too.
        return master

    def _new_master(self) -> tuple[mk.MasterKey, dict[str, Any]]:
        if self._passphrase:
            params = mk.new_passphrase_params()
            master = mk.derive_from_passphrase(self._passphrase, params)
            return master, {"mode": "passphrase", **params, "check": mk.check_value(master.key)}
        mk.ensure_home(self._home)
        if self.key_file.exists():
            master = mk.read_key_file(self.key_file)
        else:
            master = mk.create_key_file(self.key_file)
        return master, {"mode": "file", "check": mk.check_value(master.key)}

    def _unlock(self, value: dict[str, Any]) -> mk.MasterKey:
        if value["mode"] == "passphrase":
            if not self._passphrase:
                raise MasterKeyError("this repository's keys are protected by a passphrase: "
                                     "set CERTMGR_PASSPHRASE")
            master = mk.derive_from_passphrase(self._passphrase, value)
            if mk.check_value(master.key) != value["check"]:
                raise MasterKeyError("wrong passphrase for this repository (CERTMGR_PASSPHRASE); "
                                     "nothing was changed")
            return master
        master = mk.read_key_file(self.key_file)
        if mk.check_value(master.key) != value["check"]:
            raise MasterKeyError(f"the master key file {self.key_file} is not this repository's "
                                 "key; put the master.key kept for this repository there",
                                 path=self.key_file)
        return master

    # -- private keys ----------------------------------------------------------------

    def store_private_key(self, key: bytes | PrivateKeyTypes, *, kind: str,
                          actor: str | None = None) -> str:
        """Encrypt and store a private key; return its ``key_ref``.

        Args:
            key: a ``cryptography`` private key (stored as unencrypted PKCS#8 DER inside
                the encryption), or bytes kept exactly as given (PEM, DER, a key file).
            kind: what the key is for: ``certificate``, ``request``, ``issuer``,
                ``backup-file``...

        Raises:
            MasterKeyError: no usable master key.
        """
        with self._tx() as s:
            return self._store_key(s, key, kind=kind, actor=actor)

    def load_private_key(self, ref: str, *, reason: str, actor: str | None = None) -> bytes:
        """Decrypt a stored private key, recording who read it and why.

        Returns:
            The bytes as stored (PKCS#8 DER for keys given as objects).

        Raises:
            NotFound: no key ``ref``.
            MasterKeyError: the master key does not open it.
        """
        master = self._master_key(create=False)
        with self._tx() as s:
            row = s.get(PrivateKeyRow, ref)
            if row is None:
                raise NotFound(f"no stored private key {ref!r} in the repository")
            plaintext = master.open(row.ciphertext, key_identity(ref))
            self._audit(s, "key.read", f"key:{ref}", {"kind": row.kind, "reason": reason},
                        actor=actor)
        return plaintext

    def private_key_info(self, ref: str) -> StoredKey:
        """What is known about a stored key without decrypting it."""
        with self._tx() as s:
            row = s.get(PrivateKeyRow, ref)
            if row is None:
                raise NotFound(f"no stored private key {ref!r} in the repository")
            return StoredKey(row.id, row.kind, row.algorithm, row.public_sha256, row.created)

    def _store_key(self, s: Session | Connection, key: bytes | PrivateKeyTypes, *, kind: str,
                   actor: str | None = None, master: mk.MasterKey | None = None,
                   audit_rows: list[dict[str, Any]] | None = None) -> str:
        """Encrypt and insert ``key`` in the caller's transaction.

        In a bare Connection's transaction the caller passes ``master`` (got before
        the transaction): creating a master key needs the ORM session. With
        ``audit_rows`` the audit event is appended there for the caller to insert
        with its own (one statement for all).
        """
        if master is None:
            if not isinstance(s, Session):
                raise MasterKeyError("no master key given for a key stored outside a session")
            master = self._master_key(create=True, session=s)
        data, obj = key_bytes(key)
        ref = uuid.uuid4().hex
        algorithm, public = describe_key(obj)
        # Core inserts, not ORM objects: issuing stores a key per certificate, and the
        # ORM's unit of work cost more than the encryption.
        _connection(s).execute(_INSERT_KEY, {
            "id": ref, "kind": kind, "algorithm": algorithm, "public_sha256": public,
            "ciphertext": master.seal(data, key_identity(ref)), "created": utcnow()})
        row = self._audit_row("key.store", f"key:{ref}", {"kind": kind, "algorithm": algorithm},
                              actor=actor)
        if audit_rows is not None:
            audit_rows.append(row)
        else:
            _connection(s).execute(INSERT_AUDIT, row)
        return ref

    # -- audit ---------------------------------------------------------------------

    def record_event(self, action: str, obj: str, detail: dict[str, Any] | None = None, *,
                     actor: str | None = None) -> None:
        """Record an audit event for something done outside the repository (a deploy...)."""
        with self._tx() as s:
            self._audit(s, action, obj, detail or {}, actor=actor)

    def list_audit(self, *, limit: int = 100, action: str | None = None,
                   obj: str | None = None) -> list[AuditEvent]:
        """The newest audit events first, optionally only one action or object."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if action:
            query = query.where(AuditRow.action == action)
        if obj:
            query = query.where(AuditRow.object == obj)
        with self._tx() as s:
            return [AuditEvent(r.id, r.time, r.actor, r.action, r.object, dict(r.detail))
                    for r in s.scalars(query)]

    def _audit(self, s: Session | Connection, action: str, obj: str, detail: dict[str, Any], *,
               actor: str | None = None) -> None:
        # Inserted at once with Core (no ORM flush): events carry no relations to order.
        _connection(s).execute(INSERT_AUDIT, self._audit_row(action, obj, detail, actor=actor))

    def _audit_row(self, action: str, obj: str, detail: dict[str, Any], *,
                   actor: str | None = None) -> dict[str, Any]:
        return {"time": utcnow(), "actor": actor or self.actor, "action": action,
                "object": obj, "detail": detail}


def _connection(s: Session | Connection) -> Connection:
    return s.connection() if isinstance(s, Session) else s


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
