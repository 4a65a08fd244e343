"""Whole-repository backups: a consistent, authenticated snapshot of every table.

File format (``certmgr-backup`` version 2)::

    {"format": "certmgr-backup", "version": 2, "schema": ..., "master_key": {...},
     "body_sha256": ..., "hmac": ...}\\n
    <gzip of JSON lines: {"table": NAME, "columns": [...]} then one JSON array per row>

The first line is a JSON header anyone can read with ``head -1``. It names the
master key the backup belongs to (its mode, check value and, for a passphrase,
the scrypt salt) and carries the body's SHA-256 and an HMAC-SHA256 of the
header under a key derived from that master key. A restore checks the HMAC
before it reads a row, so only someone holding the master key can make a
backup that restores; then it checks every row (types, lengths, enumerations,
certificates that parse) before it creates anything. Private keys stay as the
repository stores them, sealed under the master key; the master key itself is
never in a backup and must be kept separately. Version 1 backups (an unkeyed
checksum only) are refused: anyone could have edited one.

Backups move between SQLite and PostgreSQL: values are encoded by column kind.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from certmgr import atomicfile
from certmgr.errors import InputError
from certmgr.repository import masterkey as mk
from certmgr.repository.api import Repository
from certmgr.repository.backup_check import check_row
from certmgr.repository.db import Database, Tx
from certmgr.repository.decode import decode_json, decode_utc
from certmgr.repository.schema import (
    BLOB,
    BOOL,
    HEAD_REVISION,
    JSON,
    TABLE_BY_NAME,
    TABLES,
    TIME,
    Table,
    q,
)
from certmgr.repository.values import utcnow

__all__ = ["FORMAT", "VERSION", "BackupSummary", "read_header", "restore_backup",
           "write_backup"]

FORMAT = "certmgr-backup"
VERSION = 2
_HEADER_MAX = 64 * 1024
_LINE_MAX = 32 * 1024 * 1024  # one row: a chain of certificates, a backed-up file...
_CHUNK = 1000
_AUTH_LABEL = b"certmgr backup authentication v2"


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


def _auth_key(master: mk.MasterKey) -> bytes:
    return hmac.new(master.key, _AUTH_LABEL, hashlib.sha256).digest()


def _header_mac(master: mk.MasterKey, header: dict[str, Any]) -> str:
    unsigned = {k: v for k, v in header.items() if k != "hmac"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_auth_key(master), canonical, hashlib.sha256).hexdigest()


def _public_meta(value: dict[str, Any]) -> dict[str, Any]:
    # What identifies the master key (never the key): mode, check value, scrypt salt.
    return {k: value[k] for k in ("mode", "check", "salt", "n", "r", "p") if k in value}


# -- writing -----------------------------------------------------------------------


def write_backup(repo: Repository, out: Path, *, overwrite: bool = False) -> BackupSummary:
    """Write a consistent snapshot of ``repo`` to ``out`` (mode 0600, atomically).

    Raises:
        InputError: ``out`` exists (without ``overwrite``) or its directory is missing.
        RepositoryError: the repository cannot be read.
        MasterKeyError: the master key (which authenticates the backup) is not available.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; choose another --out or remove it first", path=out)
    if out.is_dir() and not out.is_symlink():  # --force replaces a file, never a directory
        raise InputError(f"{out} is a directory; give a file name for the backup", path=out)
    if not out.parent.is_dir():
        raise InputError(f"directory {out.parent} does not exist; create it or choose another "
                         "--out", path=out)
    repo.ensure_master_key()
    master = repo.master_key()
    meta = repo._master_meta()
    assert meta is not None
    created = utcnow()
    with tempfile.TemporaryFile(dir=out.parent) as body:
        digest, rows = _write_body(repo._db, body)
        header: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "schema": HEAD_REVISION,
            "created": created.isoformat(), "source": repo.backend, "rows": rows,
            "master_key": _public_meta(meta), "body_sha256": digest}
        header["hmac"] = _header_mac(master, header)
        body.seek(0)
        _publish(out, json.dumps(header, sort_keys=True).encode() + b"\n", body)
    repo.record_event("repository.backup", "repository", {"out": str(out), "rows": rows})
    return BackupSummary(str(out), HEAD_REVISION, created, rows, repo.master_key_info())


class _HashingFile:
    """Passes bytes through to ``sink`` and hashes them (a gzip file object's target)."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self._sink.write(data)

    def flush(self) -> None:
        self._sink.flush()


def _write_body(db: Database, body: IO[bytes]) -> tuple[str, dict[str, int]]:
    hashing = _HashingFile(body)
    rows: dict[str, int] = {}
    # One read transaction over every table (SQLite: a WAL snapshot; PostgreSQL:
    # REPEATABLE READ), so the backup is consistent while others write.
    with (gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0, compresslevel=6) as gz,
          db.tx(snapshot=True) as tx):
        for table in TABLES:
            gz.write(_line({"table": table.name, "columns": list(table.column_names)}))
            count = 0
            for row in _select_all(tx, table):
                gz.write(_line(_encode(table, row)))
                count += 1
            rows[table.name] = count
    return hashing.hash.hexdigest(), rows


def _select_all(tx: Tx, table: Table) -> list[tuple[Any, ...]]:
    columns = ", ".join(q(c) for c in table.column_names)
    return tx.rows(f"SELECT {columns} FROM {table.name} ORDER BY {q(table.key)}")  # noqa: S608


def _encode(table: Table, row: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for col, value in zip(table.columns, row, strict=True):
        if value is None:
            out.append(None)
        elif col.kind == TIME:
            out.append(decode_utc(value).isoformat())
        elif col.kind == JSON:
            out.append(decode_json(value))
        elif col.kind == BOOL:
            out.append(bool(value))
        elif col.kind == BLOB:
            out.append(base64.b64encode(bytes(value)).decode())
        else:
            out.append(value)
    return out


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def _publish(out: Path, header: bytes, body: IO[bytes]) -> None:
    # 0600 from creation, renamed into place, directory fsynced: never a partial backup.
    atomicfile.write_atomic(out, _chunks(header, body), mode=0o600)


def _chunks(header: bytes, body: IO[bytes]) -> Iterator[bytes]:
    yield header
    while chunk := body.read(1 << 20):
        yield chunk


# -- reading -----------------------------------------------------------------------


def read_header(path: Path) -> dict[str, Any]:
    """The backup's header after checking format, version and the body's checksum
    (not yet its authenticity: that needs the master key, see :func:`restore_backup`).

    Raises:
        InputError: not a certmgr backup, an unknown or unauthenticated version, damaged.
    """
    path = Path(path)
    with _open_backup(path) as f:
        header = _parse_header(path, f.readline(_HEADER_MAX))
        digest = hashlib.sha256()
        try:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        except OSError as exc:
            raise InputError(f"cannot read backup {path}: {exc.strerror}", path=path) from None
    if not hmac.compare_digest(digest.hexdigest(), str(header["body_sha256"])):
        raise InputError(f"backup {path} is damaged (checksum mismatch); use another copy",
                         path=path)
    return header


class _open_backup:  # noqa: N801 - a context manager used like open()
    """The backup opened once, checked to be a regular file (a FIFO never hangs us)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: IO[bytes] | None = None

    def __enter__(self) -> IO[bytes]:
        import stat

        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise InputError(f"cannot read backup {self._path}: {exc.strerror}",
                             path=self._path) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InputError(f"backup {self._path} is not a regular file", path=self._path)
        os.set_blocking(fd, True)
        self._file = os.fdopen(fd, "rb")
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


def _parse_header(path: Path, first: bytes) -> dict[str, Any]:
    try:
        header = json.loads(first)
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"{path} is not a certmgr backup", path=path)
    version = header.get("version")
    if version == 1:
        raise InputError(f"backup {path} has format version 1, which is not authenticated and "
                         "is no longer restored; write a new backup with `certmgr backup`",
                         path=path)
    if version != VERSION:
        raise InputError(f"backup {path} has format version {version!r}; this certmgr reads "
                         f"version {VERSION}", path=path)
    meta = header.get("master_key")
    if not isinstance(header.get("body_sha256"), str) or not isinstance(header.get("hmac"), str) \
            or not isinstance(meta, dict) or meta.get("mode") not in ("file", "passphrase") \
            or not isinstance(meta.get("check"), str) or not isinstance(header.get("rows"), dict):
        raise InputError(f"backup {path} is damaged (incomplete header); use another copy",
                         path=path)
    return header


class _HashingReader:
    """Reads from ``source`` and hashes every byte read (the body, as gzip consumes it)."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self.hash = hashlib.sha256()

    def read(self, size: int = -1, /) -> bytes:
        data = self._source.read(size)
        self.hash.update(data)
        return data

    def seek(self, offset: int, /) -> object:
        raise OSError("the backup body is read once, front to back")

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def _read_body(path: Path, body_sha256: str) -> Iterator[tuple[Table, list[tuple[Any, ...]]]]:
    """Chunks of checked rows (values as stored), table by table, in dependency order.

    The body is hashed as it is read and compared with ``body_sha256`` (from the
    authenticated header) at the end, before the last step of a caller's loop: a file
    changed since it was authenticated fails the restore's transaction.

    Raises:
        InputError: a row or table the schema does not allow, or a changed body.
    """
    seen: set[str] = set()
    with _open_backup(path) as f:
        f.readline(_HEADER_MAX)
        body = _HashingReader(f)
        with gzip.GzipFile(fileobj=body, mode="rb") as gz:
            table: Table | None = None
            chunk: list[tuple[Any, ...]] = []
            while raw := gz.readline(_LINE_MAX):
                if not raw.endswith(b"\n"):
                    raise InputError(f"backup {path} is damaged (a line is cut or too long)",
                                     path=path)
                item = json.loads(raw)
                if isinstance(item, dict):
                    if table is not None and chunk:
                        yield table, chunk
                    chunk = []
                    table = _table_of(item, path, seen)
                    continue
                if table is None:
                    raise InputError(f"backup {path} is damaged (row before table)", path=path)
                chunk.append(check_row(table, item, path))
                if len(chunk) >= _CHUNK:
                    yield table, chunk
                    chunk = []
        body.drain()
        if not hmac.compare_digest(body.hash.hexdigest(), body_sha256):
            raise InputError(f"backup {path} changed while it was read; nothing was restored",
                             path=path)
        if table is not None and chunk:
            yield table, chunk


def _table_of(item: dict[str, Any], path: Path, seen: set[str]) -> Table:
    name = str(item.get("table"))
    table = TABLE_BY_NAME.get(name)
    if table is None or item.get("columns") != list(table.column_names) or name in seen:
        raise InputError(f"backup {path} holds table {name[:64]!r} with columns this "
                         "certmgr does not know", path=path)
    seen.add(name)
    return table


# -- restoring ---------------------------------------------------------------------


def restore_backup(db_url: str | None, home: Path, path: Path, *,
                   passphrase: str | None = None, master_key_file: Path | None = None,
                   actor: str | None = None) -> BackupSummary:
    """Restore backup ``path`` into the empty repository at ``db_url``/``home``.

    The backup's keys stay sealed under its master key, so that key must be
    available: the key file in ``home`` (or ``master_key_file``, copied there
    after the restore) or the passphrase (``CERTMGR_PASSPHRASE``). Nothing is
    created until the backup is authenticated and every row checked; if the restore
    fails after that, what it created (home, database file, tables, key file) is
    removed again.

    Raises:
        InputError: the file is not a certmgr backup, is damaged, edited, or for
            another schema.
        RepositoryError: the target repository is not empty.
        MasterKeyError: the available master key is not the backup's.
    """
    from certmgr.repository.restore import restore

    return restore(db_url, home, path, passphrase=passphrase, master_key_file=master_key_file,
                   actor=actor)
