"""The repository's core: the connection, the master key, encrypted private keys, audit.

The other parts of the API (``inventory``, ``certs``, ``operations``) build on
:class:`RepositoryCore`. Each public method is one transaction; the connection
never leaves the package.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certmgr.errors import MasterKeyError, NotFound
from certmgr.repository import masterkey as mk
from certmgr.repository.db import Database, Tx
from certmgr.repository.decode import decode_json, decode_utc
from certmgr.repository.records import AuditEvent, StoredKey
from certmgr.repository.values import default_actor, describe_key, key_bytes, key_identity, utcnow

__all__ = ["INSERT_AUDIT", "MASTER_META", "RepositoryCore", "act_for", "acting_as",
           "default_actor"]

# Who audit events name while a face acts for one of its users (the web console's
# requests and jobs); unset, the repository's own actor (the local user).
_ACTING_AS: ContextVar[str | None] = ContextVar("certmgr_acting_as", default=None)


def act_for(name: str) -> None:
    """From now on in this task's context (an HTTP request's), audit events name ``name``."""
    _ACTING_AS.set(name)


@contextlib.contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Audit events recorded inside the block (this thread or task) name ``name``."""
    token = _ACTING_AS.set(name)
    try:
        yield
    finally:
        _ACTING_AS.reset(token)

MASTER_META = "master_key"
_INSERT_KEY = ("INSERT INTO private_keys (id, kind, algorithm, public_sha256, ciphertext, "
               "created) VALUES (?, ?, ?, ?, ?, ?)")
INSERT_AUDIT = ('INSERT INTO audit_events ("time", actor, action, object, detail) '
                "VALUES (?, ?, ?, ?, ?)")
AuditRow = tuple[object, str, str, str, str]


class RepositoryCore:
    """Connection, master key, private keys and audit; see :class:`Repository`."""

    def __init__(self, db: Database, home: Path, *, passphrase: str | None,
                 actor: str | None) -> None:
        self._db = db
        self._home = home
        self._passphrase = passphrase
        self._master: mk.MasterKey | None = None
        self.actor = actor or default_actor()

    # -- lifecycle -----------------------------------------------------------------

    @property
    def home(self) -> Path:
        return self._home

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.backend

    @property
    def key_file(self) -> Path:
        """Where the master key file lives (used when no passphrase protects the repository)."""
        return self._home / mk.KEY_FILE_NAME

    def url_for_display(self) -> str:
        """The repository URL with any password masked."""
        return self._db.shown

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RepositoryCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _time(self, value: Any) -> object:
        return None if value is None else self._db.time(value)

    # -- master key ------------------------------------------------------------------

    def master_key_info(self) -> dict[str, Any]:
        """How this repository's keys are protected: ``mode`` (file, passphrase or none) and
        for a key file its ``path`` (which must be kept apart from backups)."""
        value = self._master_meta()
        mode = value["mode"] if value is not None else "none"
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
        with self._db.tx(write=True) as tx:
            value = self._master_meta(tx)
            if value is not None:
                return str(value["mode"])
            return self._master_key(create=True, tx=tx).source

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

    def master_key(self) -> mk.MasterKey:
        """The unlocked master key (for authenticating backups).

        Raises:
            MasterKeyError: no master key yet, or its key file or passphrase is missing.
        """
        return self._master_key(create=False)

    def _master_meta(self, tx: Tx | None = None) -> dict[str, Any] | None:
        """The master key's record (mode, salt, check value), read without a write lock."""
        value = (tx or self._db.read()).scalar("SELECT value FROM meta WHERE \"key\" = ?",
                                               (MASTER_META,))
        return dict(decode_json(value)) if value is not None else None

    def _master_key(self, *, create: bool, tx: Tx | None = None) -> mk.MasterKey:
        if self._master is not None:
            return self._master
        if tx is None:
            with self._db.tx(write=create) as inner:
                return self._master_key(create=create, tx=inner)
        value = self._master_meta(tx)
        if value is not None:
            self._master = self._unlock(value)
            return self._master
        if not create:
            raise MasterKeyError("this repository has no master key yet; run `certmgr init`")
        master, value = self._new_master()
        tx.execute('INSERT INTO meta ("key", value) VALUES (?, ?)',
                   (MASTER_META, json.dumps(value)))
        self._audit(tx, "master_key.create", "repository", {"mode": value["mode"]})
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
        with self._db.tx(write=True) as tx:
            return self._store_key(tx, key, kind=kind, actor=actor)

    def load_private_key(self, ref: str, *, reason: str, actor: str | None = None) -> bytes:
        """Decrypt a stored private key, recording who read it and why.

        Returns:
            The bytes as stored (PKCS#8 DER for keys given as objects).

        Raises:
            NotFound: no key ``ref``.
            MasterKeyError: the master key does not open it.
        """
        master = self._master_key(create=False)
        with self._db.tx(write=True) as tx:
            row = tx.one("SELECT kind, ciphertext FROM private_keys WHERE id = ?", (ref,))
            if row is None:
                raise NotFound(f"no stored private key {ref!r} in the repository")
            plaintext = master.open(bytes(row[1]), key_identity(ref))
            self._audit(tx, "key.read", f"key:{ref}", {"kind": row[0], "reason": reason},
                        actor=actor)
        return plaintext

    def private_key_info(self, ref: str) -> StoredKey:
        """What is known about a stored key without decrypting it."""
        row = self._db.read().one("SELECT id, kind, algorithm, public_sha256, created "
                                  "FROM private_keys WHERE id = ?", (ref,))
        if row is None:
            raise NotFound(f"no stored private key {ref!r} in the repository")
        return StoredKey(row[0], row[1], row[2], row[3], decode_utc(row[4]))

    def _store_key(self, tx: Tx, key: bytes | PrivateKeyTypes, *, kind: str,
                   actor: str | None = None,
                   audit_rows: list[AuditRow] | None = None) -> str:
        """Encrypt and insert ``key`` in the caller's transaction.

        With ``audit_rows`` the audit event is appended there for the caller to insert
        with its own (one statement for all).
        """
        master = self._master_key(create=True, tx=tx)
        data, obj = key_bytes(key)
        ref = uuid.uuid4().hex
        algorithm, public = describe_key(obj)
        tx.execute(_INSERT_KEY, (ref, kind, algorithm, public,
                                 master.seal(data, key_identity(ref)), self._db.time(utcnow())))
        row = self._audit_row("key.store", f"key:{ref}", {"kind": kind, "algorithm": algorithm},
                              actor=actor)
        if audit_rows is not None:
            audit_rows.append(row)
        else:
            tx.execute(INSERT_AUDIT, row)
        return ref

    # -- audit ---------------------------------------------------------------------

    def record_event(self, action: str, obj: str, detail: dict[str, Any] | None = None, *,
                     actor: str | None = None) -> None:
        """Record an audit event for something done outside the repository (a deploy...)."""
        with self._db.tx(write=True) as tx:
            self._audit(tx, action, obj, detail or {}, actor=actor)

    def list_audit(self, *, limit: int = 100, action: str | None = None,
                   obj: str | None = None, actor: str | None = None,
                   subject: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, actions_like: Sequence[str] = (),
                   actions_not_like: Sequence[str] = (), offset: int = 0
                   ) -> list[AuditEvent]:
        """The newest audit events first, optionally only one action, object or actor;
        ``subject``: objects containing it (any case); ``since`` <= time < ``until``;
        ``actions_like``: an action matching one of these LIKE patterns,
        ``actions_not_like``: none of them; ``offset`` events skipped."""
        where: list[str] = []
        params: list[object] = []
        for column, value in (("action", action), ("object", obj), ("actor", actor)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if subject:
            escaped = subject.lower().replace("\\", "\\\\").replace("%", "\\%") \
                .replace("_", "\\_")
            where.append("lower(object) LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if since is not None:
            where.append('"time" >= ?')
            params.append(self._db.time(since))
        if until is not None:
            where.append('"time" < ?')
            params.append(self._db.time(until))
        if actions_like:
            where.append("(" + " OR ".join("action LIKE ?" for _ in actions_like) + ")")
            params.extend(actions_like)
        for pattern in actions_not_like:
            where.append("action NOT LIKE ?")
            params.append(pattern)
        sql = 'SELECT id, "time", actor, action, object, detail FROM audit_events'
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ? OFFSET ?"
        rows = self._db.read().rows(sql, (*params, int(limit), int(offset)))
        return [AuditEvent(r[0], decode_utc(r[1]), r[2], r[3], r[4], dict(decode_json(r[5])))
                for r in rows]

    def _audit(self, tx: Tx, action: str, obj: str, detail: dict[str, Any], *,
               actor: str | None = None) -> None:
        tx.execute(INSERT_AUDIT, self._audit_row(action, obj, detail, actor=actor))

    def _audit_row(self, action: str, obj: str, detail: dict[str, Any], *,
                   actor: str | None = None) -> AuditRow:
        return (self._db.time(utcnow()), actor or _ACTING_AS.get() or self.actor, action, obj,
                json.dumps(detail))
