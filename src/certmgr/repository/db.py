"""One DB-API connection to the repository: stdlib ``sqlite3`` or psycopg 3.

``--db`` accepts ``sqlite:///FILE`` and ``postgresql://...``; the default is
SQLite in the home. Every statement of the repository is written here in
``repository/`` as plain SQL with ``?`` placeholders (turned into ``%s`` for
psycopg); :class:`Database` runs it, one transaction at a time, and turns
driver errors into one-line :class:`~certmgr.errors.RepositoryError` s.

Values differ by backend only in how times are stored: SQLite keeps UTC text
(``YYYY-MM-DD HH:MM:SS.ffffff``, the format earlier certmgr versions wrote, which
sorts as it compares), PostgreSQL ``timestamp with time zone``. JSON is stored
as text on both (a ``json`` column on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from certmgr.errors import RepositoryError

if TYPE_CHECKING:
    import psycopg

__all__ = ["DB_FILE_NAME", "Database", "DbUrl", "Row", "Tx", "check_sqlite_directory", "connect",
           "display_url", "enable_wal", "resolve_url"]

DB_FILE_NAME = "certmgr.db"
_CONNECT_TIMEOUT = 10  # seconds: an unreachable server is an error, not a hang
Row = tuple[Any, ...]
Params = Sequence[object]


@dataclass(frozen=True)
class DbUrl:
    """A parsed ``--db``: SQLite file or PostgreSQL connection string."""

    backend: str  # "sqlite" or "postgresql"
    shown: str  # for messages: any password masked
    path: Path | None = None  # SQLite
    conninfo: str = ""  # PostgreSQL (libpq URL, password included)
    database: str = ""


def resolve_url(db_url: str | None, home: Path) -> DbUrl:
    """The database ``--db`` names (None: SQLite in ``home``).

    Raises:
        RepositoryError: not a URL, a database kind certmgr does not support, or
            SQLite options certmgr does not honour (``?mode=ro``...).
    """
    if not db_url:
        path = home / DB_FILE_NAME
        return DbUrl("sqlite", f"sqlite:///{path}", path=path, database=str(path))
    scheme, sep, rest = db_url.partition("://")
    if not sep or not scheme:
        raise RepositoryError(f"--db {_mask_text(db_url)!r} is not a database URL; use "
                              "sqlite:///FILE or postgresql://USER@HOST[:PORT]/DB")
    backend, _, _driver = scheme.lower().partition("+")
    if backend in ("postgresql", "postgres"):
        return _postgresql(rest)
    if backend == "sqlite":
        return _sqlite(db_url, rest)
    raise RepositoryError(f"--db {_mask_text(db_url)}: {backend} is not supported; use "
                          "sqlite:///FILE or postgresql://...")


def _sqlite(db_url: str, rest: str) -> DbUrl:
    target, _, query = rest.partition("?")
    name = unquote(target[1:]) if target.startswith("/") else ""
    if not name or name == ":memory:":
        raise RepositoryError(f"--db {db_url!r}: give a SQLite file as sqlite:///PATH")
    if query:
        raise RepositoryError(f"--db {db_url!r}: SQLite URL options ({query}) are not "
                              "supported (certmgr opens its repository read-write, 0600); "
                              "give sqlite:///PATH without '?'")
    path = Path(name)
    return DbUrl("sqlite", f"sqlite:///{name}", path=path, database=name)


def _postgresql(rest: str) -> DbUrl:
    try:
        parts = urlsplit(f"postgresql://{rest}")
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise RepositoryError(f"--db {_mask_text('postgresql://' + rest)!r} is not a "
                              "database URL; use postgresql://USER@HOST[:PORT]/DB") from None
    conninfo = parts.geturl()
    shown = _mask_text(conninfo)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise RepositoryError(f"--db {shown} names no database; add /DBNAME")
    return DbUrl("postgresql", shown, conninfo=conninfo, database=database)


def display_url(url: DbUrl) -> str:
    """The URL with any password masked, in the form the user typed it."""
    return url.shown


def _mask_text(text: str) -> str:
    # A URL can carry a password: hide what sits between ':' and '@'.
    if "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        netloc, slash, tail = rest.partition("/")
        cred, at, host = netloc.rpartition("@")
        if at:
            user = cred.split(":", 1)[0]
            return f"{scheme}://{user}{':***' if ':' in cred else ''}@{host}{slash}{tail}"
    return text


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Tx:
    """The statements of one transaction (or of one autocommit read)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def execute(self, sql: str, params: Params = ()) -> None:
        self._db._cursor_run(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> None:
        if rows:
            self._db._run_many(sql, rows)

    def rows(self, sql: str, params: Params = ()) -> list[Row]:
        return self._db._cursor_run(sql, params, fetch=True)

    def one(self, sql: str, params: Params = ()) -> Row | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Params = ()) -> Any:
        found = self.one(sql, params)
        return found[0] if found is not None else None

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an ``INSERT ... RETURNING id``; the new row's id."""
        return int(self.rows(sql, params)[0][0])


class Database:
    """One connection, one transaction at a time (threads take turns)."""

    def __init__(self, url: DbUrl) -> None:
        self.url = url
        self.backend = url.backend
        self.shown = url.shown
        self._lock = threading.RLock()
        self._depth = 0
        self._sqlite: sqlite3.Connection | None = None
        self._pg: psycopg.Connection[Row] | None = None
        self._sql: dict[str, str] = {}
        if self.backend == "sqlite":
            self._sqlite = _open_sqlite(url)
        else:
            self._pg = _open_pg(url)

    # -- values ------------------------------------------------------------------------

    def time(self, value: datetime) -> object:
        """A datetime as this backend stores it (always UTC)."""
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the repository; use an aware UTC one")
        if self.backend == "sqlite":
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value.astimezone(UTC)

    # -- statements --------------------------------------------------------------------

    def _text(self, sql: str) -> str:
        if self.backend == "sqlite":
            return sql
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("?", "%s")
        return text

    def _cursor_run(self, sql: str, params: Params, *, fetch: bool = False) -> list[Row]:
        # The lock: a thread's single read never lands inside another thread's transaction.
        with self._lock, self._errors():
            if self._sqlite is not None:
                cursor = self._sqlite.execute(sql, tuple(params))
                return cursor.fetchall() if fetch else []
            if not self._depth:
                self._ensure_connected()
            assert self._pg is not None
            try:
                cur = self._pg.execute(self._text(sql), tuple(params))
            except Exception:
                if self._depth or not self._pg.broken:
                    raise
                # A read on its own, or the BEGIN of a transaction: nothing was done yet,
                # so once more on a new connection (a server restarted under the monitor).
                self._ensure_connected()
                cur = self._pg.execute(self._text(sql), tuple(params))
            return cur.fetchall() if fetch else []

    def _run_many(self, sql: str, rows: Sequence[Params]) -> None:
        with self._lock, self._errors():
            if self._sqlite is not None:
                self._sqlite.executemany(sql, [tuple(r) for r in rows])
                return
            assert self._pg is not None
            with self._pg.cursor() as cur:
                cur.executemany(self._text(sql), [tuple(r) for r in rows])

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Driver errors as one-line RepositoryErrors naming the repository."""
        try:
            yield
        except sqlite3.Error as exc:
            raise RepositoryError(self._message(exc)) from None
        except Exception as exc:
            psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL URL was opened
            if psycopg is not None and isinstance(exc, psycopg.Error):
                raise RepositoryError(self._message(exc)) from None
            raise

    def _message(self, exc: Exception) -> str:
        # sqlite3.IntegrityError, psycopg.IntegrityError and its subclasses (UniqueViolation...)
        if any(c.__name__ == "IntegrityError" for c in type(exc).__mro__):
            return f"repository {self.shown} refused the change: {first_line(exc)}"
        return problem(self.shown, exc)

    @contextmanager
    def tx(self, *, write: bool = False, snapshot: bool = False) -> Iterator[Tx]:
        """One transaction: committed on success, rolled back on any error.

        ``write``: SQLite takes the write lock at once (``BEGIN IMMEDIATE``): a deferred
        transaction that reads first and writes later fails outright when another process
        wrote in between (the monitor, the web console and the CLI share the file).
        ``snapshot``: PostgreSQL reads one snapshot (REPEATABLE READ) for a backup.
        A transaction opened inside another joins it.
        """
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield Tx(self)
                finally:
                    self._depth -= 1
                return
            self._ensure_connected()
            if self.backend == "sqlite":
                begin = "BEGIN IMMEDIATE" if write else "BEGIN"
            else:
                begin = "BEGIN ISOLATION LEVEL REPEATABLE READ" if snapshot else "BEGIN"
            self._cursor_run(begin, ())
            self._depth = 1  # from here on no statement is retried on a new connection
            try:
                yield Tx(self)
                self._cursor_run("COMMIT", ())
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth = 0

    def read(self) -> Tx:
        """Statements outside a transaction (each its own): for single reads."""
        return Tx(self)

    def _rollback(self) -> None:
        with contextlib.suppress(RepositoryError):  # the connection is gone: nothing committed
            self._cursor_run("ROLLBACK", ())

    def _ensure_connected(self) -> None:
        # A long-running monitor outlives a PostgreSQL restart: reconnect between
        # transactions (never inside one).
        if self._pg is not None and (self._pg.closed or self._pg.broken):
            self._pg = _open_pg(self.url)

    def table_names(self) -> set[str]:
        if self.backend == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        return {str(r[0]) for r in self.read().rows(sql)}

    def close(self) -> None:
        with self._lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
            if self._pg is not None:
                self._pg.close()
                self._pg = None


def connect(url: DbUrl) -> Database:
    """Open ``url`` (a SQLite file is created 0600 if absent).

    Raises:
        RepositoryError: unreachable server, refused login, missing directory, a file
            that is not a database, or one that others can read and is not ours to fix.
    """
    return Database(url)


def _open_sqlite(url: DbUrl) -> sqlite3.Connection:
    path = url.path
    assert path is not None
    _prepare_sqlite_file(path, url.shown)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise RepositoryError(problem(url.shown, exc), path=path) from None
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        # In WAL mode synchronous=NORMAL skips the fsync of each commit (the WAL is synced
        # at checkpoints): a commit survives any crash of certmgr or of another process,
        # and the database can never be corrupted; only a power loss or OS crash may undo
        # the last commits before a checkpoint. Outside WAL (a file not yet set up) FULL
        # stays, the default.
        mode = conn.execute("PRAGMA journal_mode").fetchone()
        if mode is not None and str(mode[0]).lower() == "wal":
            conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error as exc:
        conn.close()
        raise RepositoryError(problem(url.shown, exc), path=path) from None
    return conn


def enable_wal(db: Database) -> None:
    """Switch a SQLite file to WAL (persistent in the file); only once it is known ours."""
    if db.backend != "sqlite":
        return
    tx = db.read()
    mode = tx.scalar("PRAGMA journal_mode")
    if str(mode).lower() != "wal":
        tx.execute("PRAGMA journal_mode=WAL")
    tx.execute("PRAGMA synchronous=NORMAL")


def check_sqlite_directory(url: DbUrl) -> None:
    """The SQLite file's directory exists (checked before anything is created).

    Raises:
        RepositoryError: it does not.
    """
    path = url.path
    if path is not None and not path.parent.is_dir():
        raise RepositoryError(f"repository {url.shown}: directory {path.parent} does not "
                              "exist; create it or choose another --db", path=path)


def _prepare_sqlite_file(path: Path, shown: str) -> None:
    """The file exists, is a regular file with mode 0600 (created so before SQLite opens
    it: its -wal and -shm files copy that mode); a symbolic link is refused (the file
    holds sealed keys)."""
    check_sqlite_directory(DbUrl("sqlite", shown, path=path))
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     0o600)
    except OSError as exc:
        what = {20: "is not a file", 21: "is not a file",
                40: "is a symbolic link; give the file's real path"}.get(
                    exc.errno or 0, f"cannot be opened: {exc.strerror}")
        raise RepositoryError(f"repository {shown} {what}; choose another --db or fix the "
                              "permissions", path=path) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RepositoryError(f"repository {shown} is not a file; choose another --db",
                                  path=path)
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            if info.st_uid != os.geteuid():
                raise RepositoryError(
                    f"repository {shown} has mode {mode:04o} and belongs to another user; "
                    "others must not read it: choose another --db", path=path)
            os.fchmod(fd, 0o600)  # ours: the repository holds sealed keys and the audit log
            for suffix in ("-wal", "-shm"):
                side = path.with_name(path.name + suffix)
                if side.is_file() and not side.is_symlink():
                    side.chmod(0o600)
    finally:
        os.close(fd)


def _open_pg(url: DbUrl) -> psycopg.Connection[Row]:
    import psycopg

    try:
        return psycopg.connect(url.conninfo, autocommit=True, connect_timeout=_CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise RepositoryError(problem(url.shown, exc)) from None


def problem(shown: str, exc: BaseException) -> str:
    """One line for a database error: damaged file, read-only, unreachable server..."""
    text = first_line(exc)
    lower = text.lower()
    if "not a database" in lower or "malformed" in lower or "corrupt" in lower:
        return (f"repository {shown} is damaged or not a database ({text}); restore it from "
                "a backup with `certmgr restore`")
    if "readonly" in lower or "read-only" in lower or "unable to open" in lower:
        return f"repository {shown} cannot be written ({text}); check its permissions"
    if isinstance(exc, sqlite3.Error):
        return f"repository {shown}: {text}"
    if "connection" in lower or "password" in lower or "does not exist" in lower \
            or "timeout" in lower or "refused" in lower:
        return (f"cannot use repository {shown}: {text}; check that the server is running "
                "and the URL, user and password are right")
    return f"repository {shown}: {text}"
