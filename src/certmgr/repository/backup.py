"""Whole-repository backups: a consistent snapshot of every table, restorable anywhere.

File format (``certmgr-backup`` version 1)::

    {"format": "certmgr-backup", "version": 1, "schema": ..., "body_sha256": ...}\\n
    <gzip of JSON lines: {"table": NAME, "columns": [...]} then one JSON array per row>

The first line is a JSON header anyone can read with ``head -1``; the body's
SHA-256 is in it, so a damaged file is refused before anything is written.
Private keys stay as the repository stores them, sealed under the master key;
the master key itself is never in a backup and must be kept separately.
Backups move between SQLite and PostgreSQL: values are encoded by column type.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, LargeBinary, Table, delete, func, insert, select, text
from sqlalchemy.exc import SQLAlchemyError

from certmgr.errors import InputError, MasterKeyError, RepositoryError
from certmgr.repository import masterkey as mk
from certmgr.repository.api import Repository, open_repository
from certmgr.repository.core import MASTER_META
from certmgr.repository.engine import WRITE_OPTION, head_revision
from certmgr.repository.tables import AuditRow, Base, MetaRow, UTCDateTime, utcnow

__all__ = ["FORMAT", "VERSION", "BackupSummary", "read_header", "restore_backup",
           "write_backup"]

FORMAT = "certmgr-backup"
VERSION = 1
_HEADER_MAX = 64 * 1024
_CHUNK = 1000


@dataclass(frozen=True)
class BackupSummary:
    """What a backup holds (or a restore brought back), and where its master key is."""

    path: str
    schema: str
    created: datetime
    rows: dict[str, int]
    master_key: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "schema": self.schema, "created": self.created.isoformat(),
                "rows": self.rows, "master_key": self.master_key}


def _tables() -> list[Table]:
    return list(Base.metadata.sorted_tables)


# -- writing -----------------------------------------------------------------------


def write_backup(repo: Repository, out: Path, *, overwrite: bool = False) -> BackupSummary:
    """Write a consistent snapshot of ``repo`` to ``out`` (mode 0600, atomically).

    Raises:
        InputError: ``out`` exists (without ``overwrite``) or its directory is missing.
        RepositoryError: the repository cannot be read.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose another --out or remove it first", path=out)
    if not out.parent.is_dir():
        raise InputError(f"directory {out.parent} does not exist; create it or choose another "
                         "--out", path=out)
    created = utcnow()
    with tempfile.TemporaryFile(dir=out.parent) as body:
        digest, rows = _write_body(repo, body)
        header = {"format": FORMAT, "version": VERSION, "schema": head_revision(),
                  "created": created.isoformat(), "source": repo.backend, "rows": rows,
                  "body_sha256": digest}
        body.seek(0)
        _publish(out, json.dumps(header, sort_keys=True).encode() + b"\n", body)
    repo.record_event("repository.backup", "repository", {"out": str(out), "rows": rows})
    return BackupSummary(str(out), header["schema"], created, rows,  # type: ignore[arg-type]
                         repo.master_key_info())


def _write_body(repo: Repository, body: IO[bytes]) -> tuple[str, dict[str, int]]:
    hashing = _HashingWriter(body)
    rows: dict[str, int] = {}
    with (gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, compresslevel=6) as gz,
          _snapshot(repo) as conn):
        for table in _tables():
            columns = [c.name for c in table.columns]
            gz.write(_line({"table": table.name, "columns": columns}))
            count = 0
            codecs = _codecs(table, columns, encode=True)
            order = list(table.primary_key.columns)
            for row in conn.execute(select(table).order_by(*order)):
                gz.write(_line(_apply(codecs, row)))
                count += 1
            rows[table.name] = count
    return hashing.hexdigest(), rows


@contextmanager
def _snapshot(repo: Repository) -> Iterator[Connection]:
    """One read transaction over every table (SQLite: a WAL snapshot; PostgreSQL:
    REPEATABLE READ), so the backup is consistent while others write."""
    engine = repo._engine
    try:
        with engine.connect() as conn:
            if repo.backend == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn
    except SQLAlchemyError as exc:
        raise RepositoryError(f"cannot read repository {repo.url_for_display()} for the "
                              f"backup: {exc}") from None


class _HashingWriter(io.RawIOBase):
    """Passes bytes through to ``sink`` and hashes them."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._hash.update(chunk)
        self._sink.write(chunk)
        return len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def _b64encode(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _isoformat(value: datetime) -> str:
    return value.isoformat()


Codec = Callable[[Any], Any] | None


def _codecs(table: Table, columns: list[str], *, encode: bool) -> list[Codec]:
    """Per column, the function turning a value into JSON (or back); None: as is."""
    out: list[Codec] = []
    for name in columns:
        kind = table.columns[name].type
        if isinstance(kind, LargeBinary):
            out.append(_b64encode if encode else base64.b64decode)
        elif isinstance(kind, UTCDateTime):
            out.append(_isoformat if encode else datetime.fromisoformat)
        else:
            out.append(None)
    return out


def _apply(codecs: list[Codec], values: Any) -> list[Any]:
    return [v if c is None or v is None else c(v) for c, v in zip(codecs, values, strict=True)]


def _publish(out: Path, header: bytes, body: IO[bytes]) -> None:
    # Temp file created 0600 beside the target, then renamed: never a partial backup.
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            while chunk := body.read(1 << 20):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- reading -----------------------------------------------------------------------


def read_header(path: Path) -> dict[str, Any]:
    """The backup's header after checking format, version and checksum.

    Raises:
        InputError: not a certmgr backup, an unknown version, or damaged.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            first = f.readline(_HEADER_MAX)
            header = _parse_header(path, first)
            digest = hashlib.sha256()
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"cannot read backup {path}: {exc.strerror}", path=path) from None
    if digest.hexdigest() != header["body_sha256"]:
        raise InputError(f"backup {path} is damaged (checksum mismatch); use another copy",
                         path=path)
    return header


def _parse_header(path: Path, first: bytes) -> dict[str, Any]:
    try:
        header = json.loads(first)
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{path} is not a certmgr backup", path=path)
    if header.get("version") != VERSION:
        raise InputError(f"backup {path} has format version {header.get('version')!r}; this "
                         f"certmgr reads version {VERSION}", path=path)
    if not isinstance(header.get("body_sha256"), str):
        raise InputError(f"backup {path} is damaged (no checksum); use another copy", path=path)
    return header


def _read_body(path: Path) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    """Chunks of decoded rows, table by table, in dependency order."""
    tables = {t.name: t for t in _tables()}
    with path.open("rb") as f:
        f.readline(_HEADER_MAX)
        with gzip.GzipFile(fileobj=f, mode="rb") as gz:
            table: Table | None = None
            columns: list[str] = []
            codecs: list[Codec] = []
            chunk: list[dict[str, Any]] = []
            for raw in gz:
                item = json.loads(raw)
                if isinstance(item, dict):
                    if table is not None and chunk:
                        yield table, chunk
                    chunk = []
                    table, columns = _table_of(tables, item, path)
                    codecs = _codecs(table, columns, encode=False)
                    continue
                if table is None:
                    raise InputError(f"backup {path} is damaged (row before table)", path=path)
                chunk.append(dict(zip(columns, _apply(codecs, item), strict=True)))
                if len(chunk) >= _CHUNK:
                    yield table, chunk
                    chunk = []
            if table is not None and chunk:
                yield table, chunk


def _table_of(tables: dict[str, Table], item: dict[str, Any],
              path: Path) -> tuple[Table, list[str]]:
    table = tables.get(str(item.get("table")))
    columns = list(item.get("columns") or [])
    if table is None or not set(columns) <= set(table.columns.keys()):
        raise InputError(f"backup {path} holds table {item.get('table')!r} with columns this "
                         "certmgr does not know", path=path)
    return table, columns


# -- restoring ---------------------------------------------------------------------


def restore_backup(db_url: str | None, home: Path, path: Path, *,
                   passphrase: str | None = None, master_key_file: Path | None = None,
                   actor: str | None = None) -> BackupSummary:
    """Restore backup ``path`` into the empty repository at ``db_url``/``home``.

    The backup's keys stay sealed under its master key, so that key must be
    available: the key file in ``home`` (or ``master_key_file``, copied there
    after the restore) or the passphrase (``CERTMGR_PASSPHRASE``).

    Raises:
        InputError: the file is not a certmgr backup, is damaged, or is for
            another schema.
        RepositoryError: the target repository is not empty.
        MasterKeyError: the available master key is not the backup's.
    """
    path = Path(path)
    header = read_header(path)
    if header.get("schema") != head_revision():
        raise InputError(f"backup {path} has schema {header.get('schema')!r}; this certmgr "
                         f"restores schema {head_revision()}", path=path)
    backup_meta = _backup_meta(path)
    repo = open_repository(db_url, home, passphrase=passphrase, actor=actor,
                           init_master_key=False)
    try:
        _check_empty(repo)
        key_to_copy = _check_master_key(repo, backup_meta.get(MASTER_META), master_key_file)
        _load(repo, path, backup_meta)
        if key_to_copy is not None:
            mk.write_key_file(repo.key_file, key_to_copy.key)
        info = repo.master_key_info()
    finally:
        repo.close()
    return BackupSummary(str(path), str(header["schema"]),
                         datetime.fromisoformat(header["created"]), dict(header["rows"]), info)


def _backup_meta(path: Path) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        for table, chunk in _read_body(path):
            if table.name == MetaRow.__tablename__:
                meta.update({row["key"]: row["value"] for row in chunk})
            elif meta:
                break
    except (ValueError, EOFError, OSError, KeyError, TypeError) as exc:
        raise InputError(f"backup {path} is damaged ({exc}); use another copy",
                         path=path) from None
    return meta


def _check_empty(repo: Repository) -> None:
    skip = {MetaRow.__tablename__, AuditRow.__tablename__}
    with repo._conn() as conn:
        used = {t.name: n for t in _tables() if t.name not in skip
                and (n := conn.execute(select(func.count()).select_from(t)).scalar_one())}
    if used:
        what = ", ".join(f"{n} {name}" for name, n in sorted(used.items()))
        raise RepositoryError(f"repository {repo.url_for_display()} is not empty ({what}); "
                              "restore into a new --home or an empty --db")


def _check_master_key(repo: Repository, wanted: dict[str, Any] | None,
                      given: Path | None) -> mk.MasterKey | None:
    """Check the backup's master key is available; return a key file's key to copy in."""
    if wanted is None:
        return None  # the backup holds no sealed keys
    if wanted.get("mode") == "passphrase":
        if not repo._passphrase:
            raise MasterKeyError("this backup's keys are protected by a passphrase: set "
                                 "CERTMGR_PASSPHRASE to it and restore again")
        master = mk.derive_from_passphrase(repo._passphrase, wanted)
        if mk.check_value(master.key) != wanted["check"]:
            raise MasterKeyError("wrong passphrase for this backup (CERTMGR_PASSPHRASE); "
                                 "nothing was changed")
        return None
    present = repo.key_file.exists()
    if given is None and not present:
        raise MasterKeyError(f"this backup's keys need its master key file: copy it to "
                             f"{repo.key_file} (mode 0600) or give --master-key FILE")
    if present:
        current = mk.read_key_file(repo.key_file)
        if mk.check_value(current.key) != wanted["check"]:
            raise MasterKeyError(f"{repo.key_file} is not this backup's master key; move it "
                                 "away, then give the backup's key with --master-key FILE")
    if given is None:
        return None
    master = mk.read_key_file(given)
    if mk.check_value(master.key) != wanted["check"]:
        raise MasterKeyError(f"{given} is not this backup's master key", path=given)
    return None if present else master


def _load(repo: Repository, path: Path, backup_meta: dict[str, Any]) -> None:
    """Insert every row in one transaction; local audit events are kept after the backup's."""
    audit = Base.metadata.tables[AuditRow.__tablename__]
    meta = Base.metadata.tables[MetaRow.__tablename__]
    try:
        with repo._engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            kept_audit = [dict(r._mapping) for r in
                          conn.execute(select(audit).order_by(audit.c.id))]
            kept_meta = {r.key: r.value for r in conn.execute(select(meta))}
            conn.execute(delete(audit))
            conn.execute(delete(meta))
            for table, chunk in _read_body(path):
                conn.execute(insert(table), chunk)
            for key, value in kept_meta.items():
                if key not in backup_meta:
                    conn.execute(insert(meta), [{"key": key, "value": value}])
            if repo.backend == "postgresql":
                _reset_sequences(conn)
            for row in kept_audit:
                row.pop("id")
                conn.execute(insert(audit), [row])
            conn.execute(insert(audit), [{
                "time": utcnow(), "actor": repo.actor, "action": "repository.restore",
                "object": "repository", "detail": {"from": str(path)}}])
    except (ValueError, EOFError, KeyError, TypeError) as exc:
        raise InputError(f"backup {path} is damaged ({exc}); nothing was restored",
                         path=path) from None
    except SQLAlchemyError as exc:
        raise RepositoryError(f"restore into {repo.url_for_display()} failed, nothing was "
                              f"restored: {str(exc).splitlines()[0]}") from None


def _reset_sequences(conn: Connection) -> None:
    # Explicit ids were inserted: move each serial sequence past them.
    for table in _tables():
        if "id" in table.columns and table.columns["id"].autoincrement is not False \
                and table.columns["id"].type.python_type is int:
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {table.name}"))
