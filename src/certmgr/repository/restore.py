"""Restoring a backup (see :mod:`certmgr.repository.backup` for the format).

Nothing is created until the backup is authenticated under its master key and every
row is checked; a restore that fails after that removes what it created.
"""

from __future__ import annotations

import binascii
import contextlib
import hmac
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from certmgr.errors import InputError, MasterKeyError, RepositoryError
from certmgr.repository import masterkey as mk
from certmgr.repository.api import Repository, open_repository
from certmgr.repository.backup import (
    BackupSummary,
    _header_mac,
    _public_meta,
    _read_body,
    _select_all,
    read_header,
)
from certmgr.repository.core import MASTER_META
from certmgr.repository.db import Database, Tx, connect, resolve_url
from certmgr.repository.schema import HEAD_REVISION, JSON, TABLE_BY_NAME, TABLES, TIME, Table, q
from certmgr.repository.values import utcnow

__all__ = ["restore"]


def restore(db_url: str | None, home: Path, path: Path, *, passphrase: str | None = None,
            master_key_file: Path | None = None, actor: str | None = None) -> BackupSummary:
    """See :func:`certmgr.repository.backup.restore_backup`."""
    path = Path(path)
    home = Path(home).expanduser()
    if passphrase is None:
        passphrase = os.environ.get("CERTMGR_PASSPHRASE") or None
    header = read_header(path)
    if header.get("schema") != HEAD_REVISION:
        raise InputError(f"backup {path} has schema {header.get('schema')!r}; this certmgr "
                         f"restores schema {HEAD_REVISION}: restore it with the certmgr that "
                         "wrote it, run one command with this one, then back up again",
                         path=path)
    _refuse_non_empty(db_url, home)  # before the key checks: the plainer message first
    wanted: dict[str, Any] = header["master_key"]
    master, key_to_copy = _backup_master_key(home, wanted, passphrase, master_key_file)
    if not hmac.compare_digest(_header_mac(master, header), str(header["hmac"])):
        raise InputError(f"backup {path} does not authenticate under its master key (it was "
                         "edited, or made for another repository); nothing was restored",
                         path=path)
    try:
        body_meta = _check_body(path, str(header["body_sha256"]))
    except (ValueError, EOFError, OSError, KeyError, TypeError) as exc:
        raise InputError(f"backup {path} is damaged ({str(exc)[:120]}); nothing was restored",
                         path=path) from None
    if _public_meta(body_meta.get(MASTER_META, {})) != wanted:
        raise InputError(f"backup {path} is damaged (its master key record differs from its "
                         "header); nothing was restored", path=path)
    created = _Created.before(db_url, home)
    try:
        repo = open_repository(db_url, home, passphrase=passphrase, actor=actor,
                               init_master_key=False)
        try:
            _check_empty(repo)
            _load(repo, path, body_meta, str(header["body_sha256"]))
            if key_to_copy is not None:
                mk.write_key_file(repo.key_file, key_to_copy.key)
            info = repo.master_key_info()
        finally:
            repo.close()
    except BaseException:
        created.undo()
        raise
    created.keep()
    return BackupSummary(str(path), str(header["schema"]),
                         datetime.fromisoformat(header["created"]), dict(header["rows"]), info)


def _backup_master_key(home: Path, wanted: dict[str, Any], passphrase: str | None,
                       given: Path | None) -> tuple[mk.MasterKey, mk.MasterKey | None]:
    """The backup's master key, and a key file's key to copy into the home afterwards."""
    if wanted["mode"] == "passphrase":
        if not passphrase:
            raise MasterKeyError("this backup's keys are protected by a passphrase: set "
                                 "CERTMGR_PASSPHRASE to it and restore again")
        try:
            master = mk.derive_from_passphrase(passphrase, wanted)
        except (KeyError, ValueError, TypeError, binascii.Error):
            raise InputError("the backup's header is damaged (passphrase parameters); use "
                             "another copy") from None
        if not hmac.compare_digest(mk.check_value(master.key), wanted["check"]):
            raise MasterKeyError("wrong passphrase for this backup (CERTMGR_PASSPHRASE); "
                                 "nothing was changed")
        return master, None
    key_file = home / mk.KEY_FILE_NAME
    present = key_file.exists()
    if given is None and not present:
        raise MasterKeyError(f"this backup's keys need its master key file: copy it to "
                             f"{key_file} (mode 0600) or give --master-key FILE")
    if present:
        current = mk.read_key_file(key_file)
        if not hmac.compare_digest(mk.check_value(current.key), wanted["check"]):
            raise MasterKeyError(f"{key_file} is not this backup's master key; move it "
                                 "away, then give the backup's key with --master-key FILE")
        if given is None:
            return current, None
    assert given is not None
    master = mk.read_key_file(given)
    if not hmac.compare_digest(mk.check_value(master.key), wanted["check"]):
        raise MasterKeyError(f"{given} is not this backup's master key", path=given)
    return master, None if present else master


def _check_body(path: Path, body_sha256: str) -> dict[str, Any]:
    """Read and check every row once before anything is created; the backup's meta rows."""
    meta: dict[str, Any] = {}
    for table, chunk in _read_body(path, body_sha256):
        if table.name == "meta":
            meta.update({row[0]: row[1] for row in chunk})
    return meta


class _Created:
    """What a restore is about to create, so that a failed one removes it again."""

    def __init__(self, db: Database | None, home: Path, files: list[Path],
                 home_existed: bool) -> None:
        self._db = db
        self._home = home
        self._files = files
        self._home_existed = home_existed

    @classmethod
    def before(cls, db_url: str | None, home: Path) -> _Created:
        url = resolve_url(db_url, home)
        files = [home / mk.KEY_FILE_NAME]
        db: Database | None = None
        if url.backend == "sqlite":
            assert url.path is not None
            files += [url.path.with_name(url.path.name + s) for s in ("", "-wal", "-shm",
                                                                       "-journal")]
        else:
            db = connect(url)  # unreachable: the error is the restore's, nothing made yet
            if db.table_names():
                db.close()
                db = None  # not empty: the restore will refuse it and must not drop a thing
        return cls(db, home, [f for f in files if not f.exists()], home.exists())

    def undo(self) -> None:
        for f in self._files:
            f.unlink(missing_ok=True)
        if not self._home_existed:
            with contextlib.suppress(OSError):  # something else is in it now: leave it
                self._home.rmdir()
        if self._db is not None:
            try:
                with self._db.tx(write=True) as tx:
                    for table in [*reversed(TABLES), None]:
                        name = table.name if table else "alembic_version"
                        tx.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
            except RepositoryError:
                pass  # the original error says what went wrong
            finally:
                self._db.close()

    def keep(self) -> None:
        """The restore succeeded: keep everything."""
        if self._db is not None:
            self._db.close()
            self._db = None


def _refuse_non_empty(db_url: str | None, home: Path) -> None:
    url = resolve_url(db_url, home)
    if url.backend == "sqlite":
        if url.path is None or not url.path.is_file() or not url.path.stat().st_size \
                or not home.is_dir():
            return  # nothing there yet: nothing to open (and nothing is created here)
    else:
        db = connect(url)
        try:
            if not db.table_names():
                return
        finally:
            db.close()
    repo = open_repository(db_url, home, init_master_key=False)
    try:
        _check_empty(repo)
    finally:
        repo.close()


def _check_empty(repo: Repository) -> None:
    skip = {"meta", "audit_events"}
    tx = repo._db.read()
    used = {t.name: n for t in TABLES if t.name not in skip
            and (n := int(tx.scalar(f"SELECT count(*) FROM {t.name}")))}  # noqa: S608
    if used:
        what = ", ".join(f"{n} {name}" for name, n in sorted(used.items()))
        raise RepositoryError(f"repository {repo.url_for_display()} is not empty ({what}); "
                              "restore into a new --home or an empty --db")


def _insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    names = ", ".join(q(c) for c in columns)
    return f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608


def _stored(db: Database, table: Table, row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for col, value in zip(table.columns, row, strict=True):
        if value is None:
            out.append(None)
        elif col.kind == TIME:
            out.append(db.time(value))
        elif col.kind == JSON:
            out.append(json.dumps(value))
        else:
            out.append(value)
    return tuple(out)


def _load(repo: Repository, path: Path, backup_meta: dict[str, Any], body_sha256: str) -> None:
    """Insert every row in one transaction; local audit events are kept after the backup's."""
    db = repo._db
    audit = TABLE_BY_NAME["audit_events"]
    meta = TABLE_BY_NAME["meta"]
    try:
        with db.tx(write=True) as tx:
            kept_audit = [r[1:] for r in _select_all(tx, audit)]
            kept_meta = [r for r in _select_all(tx, meta) if r[0] not in backup_meta]
            tx.execute("DELETE FROM audit_events")
            tx.execute("DELETE FROM meta")
            for table, chunk in _read_body(path, body_sha256):
                tx.executemany(_insert_sql(table, table.column_names),
                               [_stored(db, table, row) for row in chunk])
            tx.executemany(_insert_sql(meta, meta.column_names), kept_meta)
            if db.backend == "postgresql":
                _reset_sequences(tx)
            columns = audit.column_names[1:]
            tx.executemany(_insert_sql(audit, columns), kept_audit)
            tx.execute(_insert_sql(audit, columns), (
                db.time(utcnow()), repo.actor, "repository.restore", "repository",
                json.dumps({"from": str(path)})))
    except (ValueError, EOFError, KeyError, TypeError) as exc:
        raise InputError(f"backup {path} is damaged ({str(exc)[:120]}); nothing was restored",
                         path=path) from None
    except RepositoryError as exc:
        raise RepositoryError(f"restore into {repo.url_for_display()} failed, nothing was "
                              f"restored: {exc}") from None


def _reset_sequences(tx: Tx) -> None:
    # Explicit ids were inserted: move each serial sequence past them.
    for table in TABLES:
        if table.key == "id" and table.column("id").kind == "int":
            tx.execute(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                       f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}")
