"""Opening a database: URL rules, SQLite pragmas, and Alembic upgrades on open.

``--db`` accepts ``sqlite:///FILE`` and ``postgresql://...`` (psycopg 3); the
default is SQLite in the home. Every open brings the schema to the newest
Alembic revision shipped with this package, inside one transaction, and
refuses a database that is not certmgr's, damaged, or from a newer certmgr.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, SQLAlchemyError

from certmgr.errors import RepositoryError
from certmgr.repository.decode import HEAD_REVISION

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "DB_FILE_NAME",
    "HEAD_REVISION",
    "WRITE_OPTION",
    "alembic_config",
    "create_db_engine",
    "display_url",
    "head_revision",
    "preflight",
    "resolve_url",
    "upgrade_to_head",
]

DB_FILE_NAME = "certmgr.db"
WRITE_OPTION = "certmgr_write"  # execution option: this transaction may write
MIGRATIONS = Path(__file__).parent / "migrations"
_CONNECT_TIMEOUT = 10  # seconds: an unreachable server is an error, not a hang


def resolve_url(db_url: str | None, home: Path) -> URL:
    """The SQLAlchemy URL for ``--db`` (None: SQLite in ``home``).

    Raises:
        RepositoryError: not a URL, or a database kind certmgr does not support.
    """
    if not db_url:
        return URL.create("sqlite", database=str(home / DB_FILE_NAME))
    try:
        url = make_url(db_url)
    except (ArgumentError, ValueError):
        raise RepositoryError(f"--db {_mask_text(db_url)!r} is not a database URL; use "
                              "sqlite:///FILE or postgresql://USER@HOST[:PORT]/DB") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        # psycopg 3 is the driver certmgr ships with, whatever the URL asked for.
        url = url.set(drivername="postgresql+psycopg")
        if not url.database:
            raise RepositoryError(f"--db {display_url(url)} names no database; add /DBNAME")
        return url
    if backend == "sqlite":
        if url.get_driver_name() != "pysqlite" or not url.database or url.database == ":memory:":
            raise RepositoryError(f"--db {db_url!r}: give a SQLite file as sqlite:///PATH")
        return url
    raise RepositoryError(f"--db {display_url(url)}: {backend} is not supported; use "
                          "sqlite:///FILE or postgresql://...")


def display_url(url: URL) -> str:
    """The URL with any password masked, in the form the user typed it."""
    shown = url.set(drivername=url.get_backend_name())
    return shown.render_as_string(hide_password=True)


def _mask_text(text: str) -> str:
    # A malformed URL can still carry a password: hide what sits between ':' and '@'.
    if "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        cred, _, tail = rest.rpartition("@")
        user = cred.split(":", 1)[0]
        return f"{scheme}://{user}{':***' if ':' in cred else ''}@{tail}"
    return text


def create_db_engine(url: URL) -> Engine:
    """An engine with our per-backend settings (SQLite: WAL, foreign keys, real BEGIN)."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return create_engine(url, connect_args={"connect_timeout": _CONNECT_TIMEOUT},
                         pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # Let SQLAlchemy's BEGIN (below) start transactions, so a backup reads one snapshot.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # In WAL mode synchronous=NORMAL skips the fsync of each commit (the WAL is synced
        # at checkpoints): a commit survives any crash of certmgr or of another process,
        # and the database can never be corrupted; only a power loss or OS crash may undo
        # the last commits before a checkpoint. That takes a certificate's commit from ~8 ms
        # to well under one. Outside WAL (a file not yet upgraded) FULL stays, the default.
        mode = cursor.execute("PRAGMA journal_mode").fetchone()
        if mode is not None and str(mode[0]).lower() == "wal":
            cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    # Transactions that may write take the write lock at once (waiting up to busy_timeout):
    # a deferred one that reads first and writes later fails outright when another
    # process wrote in between (the monitor, the web console and the CLI share the file).
    write = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enable_wal(engine: Engine) -> None:
    # journal_mode is persistent in the file; setting it needs no open transaction.
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # see _sqlite_on_connect
        cursor.close()
    finally:
        raw.close()




def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations shipped in this package."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise RepositoryError("certmgr was installed without its database migrations")
    return head


def upgrade_to_head(engine: Engine, shown: str) -> None:
    """Bring the schema to the newest revision; refuse foreign, damaged or newer databases.

    Raises:
        RepositoryError: the database cannot be read, is not certmgr's, or is newer.
    """
    try:
        sqlite = engine.url.get_backend_name() == "sqlite"
        if sqlite:
            _check_sqlite_file(engine, shown)
        with engine.begin() as conn:
            if not _at_head(conn):
                from alembic import command

                _check_ours(conn, shown)
                cfg = alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        if sqlite:
            _enable_wal(engine)  # only once the file is known to be ours
    except RepositoryError:
        raise
    except sqlite3.Error as exc:
        raise RepositoryError(f"repository {shown}: {exc}; restore it from a backup with "
                              "`certmgr restore`") from None
    except DatabaseError as exc:
        raise RepositoryError(_database_problem(shown, exc)) from None
    except (SQLAlchemyError, NoSuchModuleError) as exc:
        raise RepositoryError(f"repository {shown}: {_first_line(exc)}") from None


def preflight(engine: Engine, shown: str) -> None:
    """Check an explicit ``--db`` before anything is created: the server answers, or the
    SQLite file's directory exists.

    Raises:
        RepositoryError: unreachable server, refused login, missing directory.
    """
    if engine.url.get_backend_name() == "sqlite":
        _check_sqlite_path(Path(engine.url.database or ""), shown)
        return
    try:
        with engine.connect():
            pass
    except DatabaseError as exc:
        raise RepositoryError(_database_problem(shown, exc)) from None
    except SQLAlchemyError as exc:
        raise RepositoryError(f"repository {shown}: {_first_line(exc)}") from None


def _check_sqlite_path(path: Path, shown: str) -> None:
    if not path.parent.is_dir():
        raise RepositoryError(f"repository {shown}: directory {path.parent} does not exist; "
                              "create it or choose another --db", path=path)
    if path.exists() and not path.is_file():
        raise RepositoryError(f"repository {shown} is not a file; choose another --db", path=path)
    if path.is_file() and path.stat().st_size:
        _check_sqlite_readable(path, shown)


def _check_sqlite_readable(path: Path, shown: str) -> None:
    # Read-only look first, so a damaged or foreign file is refused without a write.
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise RepositoryError(f"repository {shown} is damaged or not a database ({exc}); "
                              "restore it from a backup with `certmgr restore`",
                              path=path) from None


def _check_sqlite_file(engine: Engine, shown: str) -> None:
    path = Path(engine.url.database or "")
    _check_sqlite_path(path, shown)
    if not path.exists():
        # Created 0600 before SQLite opens it: its -wal and -shm files copy this mode.
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        except FileExistsError:
            pass  # another certmgr created it just now
        except OSError as exc:
            raise RepositoryError(f"repository {shown} cannot be created: {exc.strerror}; "
                                  "choose another --db or fix the permissions",
                                  path=path) from None


def _at_head(conn: Any) -> bool:
    """True if the database is certmgr's at HEAD_REVISION (then nothing needs Alembic)."""
    tables = set(inspect(conn).get_table_names())
    if not {"alembic_version", "meta", "certificates"} <= tables:
        return False
    versions = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return versions == [HEAD_REVISION]


def _check_ours(conn: Any, shown: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    tables = set(inspect(conn).get_table_names())
    if not tables:
        return
    if "alembic_version" not in tables:
        raise RepositoryError(f"{shown} is a database that certmgr did not create; choose "
                              "another --db (certmgr never writes into foreign databases)")
    if "meta" not in tables or "certificates" not in tables:
        raise RepositoryError(f"{shown} is a database that certmgr did not create (another "
                              "application's migrations); choose another --db")
    current = MigrationContext.configure(conn).get_current_revision()
    script = ScriptDirectory.from_config(alembic_config())
    if current is not None and _unknown(script, current):
        raise RepositoryError(f"repository {shown} has schema revision {current}, unknown to "
                              "this certmgr; upgrade certmgr")


def _unknown(script: ScriptDirectory, revision: str) -> bool:
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is None
    except CommandError:  # alembic: "Can't locate revision identified by ..."
        return True


def _database_problem(shown: str, exc: DatabaseError) -> str:
    text = _first_line(exc)
    lower = text.lower()
    if "not a database" in lower or "malformed" in lower or "corrupt" in lower:
        return (f"repository {shown} is damaged or not a database ({text}); restore it from "
                "a backup with `certmgr restore`")
    if "readonly" in lower or "read-only" in lower or "unable to open" in lower:
        return f"repository {shown} cannot be written ({text}); check its permissions"
    return (f"cannot use repository {shown}: {text}; check that the server is running and "
            "the URL, user and password are right")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
