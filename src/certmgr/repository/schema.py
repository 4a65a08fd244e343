"""The repository's tables, created at once on a new database, and the migration runner.

:data:`TABLES` is the schema at :data:`HEAD_REVISION`, in dependency order. A new
database gets all of it in one transaction, with its revision recorded in
``alembic_version`` (the table earlier certmgr versions kept through Alembic, so
their databases open as they are). A database at an older revision is brought
forward by the plain SQL steps in :data:`MIGRATIONS`; a newer or foreign one
is refused. Changing a table here means adding a revision with its step there.

Private keys live in one table, ``private_keys``, always AES-256-GCM encrypted;
every other table refers to them by ``key_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from certmgr.errors import RepositoryError
from certmgr.repository.db import Database, Tx

__all__ = ["HEAD_REVISION", "MIGRATIONS", "TABLES", "Column", "Table", "acme_definition",
           "create_sql", "ensure_schema"]

HEAD_REVISION = "0006"
VERSION_TABLE = "alembic_version"
_ADVISORY_LOCK = 0x6365_7274  # PostgreSQL: one certmgr sets a database up at a time

# Column kinds and their types on each backend.
INT, STR, TEXT, JSON, TIME, BOOL, BLOB = "int", "str", "text", "json", "time", "bool", "blob"
_SQLITE = {INT: "INTEGER", TEXT: "TEXT", JSON: "JSON", TIME: "DATETIME", BOOL: "BOOLEAN",
           BLOB: "BLOB"}
_PG = {INT: "INTEGER", TEXT: "TEXT", JSON: "JSON", TIME: "TIMESTAMP WITH TIME ZONE",
       BOOL: "BOOLEAN", BLOB: "BYTEA"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    length: int = 0  # STR: VARCHAR(length)
    null: bool = False
    default: str = ""  # SQL literal; columns added by a migration to a table with rows


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    constraints: tuple[str, ...] = ()  # after the primary key
    indexes: tuple[tuple[str, str], ...] = ()  # (name, "col, col")
    key: str = "id"  # primary key column; "id" INT keys are generated

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, kind: str, length: int = 0, *, null: bool = False,
       default: str = "") -> Column:
    return Column(name, kind, length, null, default)


def _id() -> Column:
    return Column("id", INT)


def _fk(column: str, table: str, *, cascade: bool = False, name: str = "") -> str:
    label = name or f"fk_{{t}}_{column}_{table}"
    return (f"CONSTRAINT {label} FOREIGN KEY({column}) REFERENCES {table} (id)"
            + (" ON DELETE CASCADE" if cascade else ""))


def _created() -> tuple[Column, Column]:
    return _c("created", TIME), _c("updated", TIME)


_WEB_USER_COLUMNS = (_c("hosts", JSON, default="'[]'"),
                     _c("must_change", BOOL, default="FALSE"),
                     _c("totp_secret", STR, 64, null=True))
# 0003 (sign-in): the last TOTP time step accepted (a code is good once), and where the
# user comes from ('local': certmgr's own password; 'ldap': the directory's)
_SIGNIN_USER_COLUMNS = (_c("totp_step", INT, null=True),
                        _c("origin", STR, 16, default="'local'"))
# 0004 (monitoring screen): the newest observation of each endpoint is marked, so the
# endpoint list reads one row per endpoint, not its whole bounded history.
_OBSERVATION_LATEST = _c("latest", BOOL, default="FALSE")
_OBSERVATION_LATEST_INDEX = ("ix_observations_latest", "latest")
# 0005 (dashboard): the renewal rule reads the definitions through indexes, not a pass
# over all of them: the widest window (max of renew_before_seconds), and the definitions
# whose data names "acme" (left to Python; a partial index whose condition the queries
# repeat word for word, see :func:`acme_definition`).
_RENEW_BEFORE_INDEX = ("ix_definitions_renew_before", "renew_before_seconds")


def acme_definition(backend: str, alias: str = "") -> str:
    """The condition "the definition's data names acme" (the JSON text of any dict with
    that key holds the quoted name), as written in the partial index
    ``ix_definitions_acme``: a query must say it the same way for the planner to use
    it. ``alias``: the definitions table's alias in the query. (A literal, no
    parameter: psycopg reads a lone '%' as a placeholder, so PostgreSQL's is doubled.)"""
    like = "'%%\"acme\"%%'" if backend == "postgresql" else "'%\"acme\"%'"
    return f"CAST({alias + '.' if alias else ''}data AS TEXT) LIKE {like}"


def _acme_index(backend: str) -> str:
    return f"CREATE INDEX ix_definitions_acme ON definitions (id) WHERE {acme_definition(backend)}"


# 0006 (dashboard): the expiry timeline counts current certificates by expiry in 54
# ranges; a partial index of their expiries alone (no state to compare in each entry)
# makes those counts ~25% cheaper on PostgreSQL than the (state, not_after) index. The
# queries name the state as this literal (a parameter would not match the condition).
CURRENT_EXPIRY_INDEX = ("CREATE INDEX ix_certificates_current_not_after ON certificates "
                        "(not_after) WHERE state = 'current'")


_API_TOKENS = Table(
    "api_tokens", (_id(), _c("user_id", INT), _c("name", STR, 64), _c("sha256", STR, 64),
                   _c("created", TIME), _c("expires", TIME, null=True),
                   _c("last_used", TIME, null=True)),
    (_fk("user_id", "users", cascade=True), "CONSTRAINT uq_api_tokens_sha256 UNIQUE (sha256)"),
    (("ix_api_tokens_user_id", "user_id"),))

TABLES: tuple[Table, ...] = (
    Table("meta", (_c("key", STR, 64), _c("value", JSON)), key="key"),
    Table("hosts", (_id(), _c("name", STR, 255), _c("kind", STR, 16),
                    _c("address", STR, 512, null=True), _c("params", JSON), *_created()),
          ("CONSTRAINT uq_hosts_name UNIQUE (name)",)),
    Table("services", (_id(), _c("host_id", INT), _c("kind", STR, 32), _c("config", TEXT),
                       _c("user", STR, 64, null=True), _c("data", JSON)),
          (_fk("host_id", "hosts", cascade=True),),
          (("ix_services_host_id", "host_id"),)),
    Table("slots", (_id(), _c("host_id", INT), _c("service_id", INT), _c("slot_id", STR, 255),
                    _c("config", TEXT, null=True), _c("names", JSON),
                    _c("cert", TEXT, null=True), _c("key", TEXT, null=True),
                    _c("chain", TEXT, null=True), _c("ca", TEXT, null=True),
                    _c("keystore", TEXT, null=True), _c("keystore_type", STR, 16, null=True),
                    _c("data", JSON)),
          (_fk("host_id", "hosts", cascade=True), _fk("service_id", "services", cascade=True),
           "CONSTRAINT uq_slots_host_id UNIQUE (host_id, slot_id)"),
          (("ix_slots_service_id", "service_id"),)),
    Table("endpoints", (_id(), _c("slot_id", INT), _c("address", STR, 255), _c("port", INT),
                        _c("tls", STR, 32), _c("sni", STR, 255, null=True)),
          (_fk("slot_id", "slots", cascade=True),),
          (("ix_endpoints_slot_id", "slot_id"),)),
    Table("private_keys", (_c("id", STR, 32), _c("kind", STR, 32),
                           _c("algorithm", STR, 32, null=True),
                           _c("public_sha256", STR, 64, null=True), _c("ciphertext", BLOB),
                           _c("created", TIME)),
          (), (("ix_private_keys_public_sha256", "public_sha256"),)),
    Table("definitions", (_id(), _c("name", STR, 255), _c("cn", STR, 255), _c("sans", JSON),
                          _c("key_type", STR, 16), _c("validity_seconds", INT),
                          _c("issuer", STR, 255, null=True), _c("renew_before_seconds", INT),
                          _c("targets", JSON), _c("data", JSON), *_created()),
          ("CONSTRAINT uq_definitions_name UNIQUE (name)",), (_RENEW_BEFORE_INDEX,)),
    Table("definition_targets", (_id(), _c("definition_id", INT), _c("host", STR, 255),
                                 _c("slot_id", STR, 255)),
          (_fk("definition_id", "definitions", cascade=True),),
          (("ix_definition_targets_definition_id", "definition_id"),
           ("ix_definition_targets_host_slot", "host, slot_id"))),
    Table("issuers", (_id(), _c("name", STR, 255), _c("kind", STR, 16), _c("config", JSON),
                      _c("certificates_pem", TEXT), *_created()),
          ("CONSTRAINT uq_issuers_name UNIQUE (name)",)),
    Table("issuer_keys", (_id(), _c("issuer_id", INT), _c("role", STR, 32),
                          _c("key_id", STR, 32)),
          (_fk("issuer_id", "issuers", cascade=True), _fk("key_id", "private_keys"),
           "CONSTRAINT uq_issuer_keys_issuer_id UNIQUE (issuer_id, role)"),
          (("ix_issuer_keys_key_id", "key_id"),)),
    Table("requests", (_id(), _c("definition_id", INT), _c("key_id", STR, 32),
                       _c("csr_pem", TEXT), _c("public_sha256", STR, 64), _c("state", STR, 16),
                       *_created()),
          (_fk("definition_id", "definitions", cascade=True), _fk("key_id", "private_keys")),
          (("ix_requests_definition_id", "definition_id"), ("ix_requests_key_id", "key_id"),
           ("ix_requests_public_sha256", "public_sha256"), ("ix_requests_state", "state"))),
    Table("certificates", (_id(), _c("definition_id", INT), _c("version", INT),
                           _c("serial", STR, 64), _c("sha256", STR, 64), _c("subject", TEXT),
                           _c("sans", JSON), _c("not_before", TIME), _c("not_after", TIME),
                           _c("issuer", TEXT), _c("cert_pem", TEXT), _c("chain_pem", TEXT),
                           _c("key_id", STR, 32, null=True), _c("state", STR, 16),
                           _c("created", TIME)),
          (_fk("definition_id", "definitions", cascade=True), _fk("key_id", "private_keys"),
           "CONSTRAINT uq_certificates_definition_id UNIQUE (definition_id, version)",
           "CONSTRAINT uq_certificates_sha256 UNIQUE (sha256)"),
          (("ix_certificates_key_id", "key_id"), ("ix_certificates_not_after", "not_after"),
           ("ix_certificates_serial", "serial"),
           # list --expiring: current certificates by expiry, over 100k rows
           ("ix_certificates_state_not_after", "state, not_after"))),
    Table("deployments", (_id(), _c("definition_id", INT), _c("certificate_id", INT),
                          _c("host", STR, 255), _c("slot_id", STR, 255), _c("state", STR, 16),
                          _c("reason", TEXT, null=True), _c("started", TIME),
                          _c("finished", TIME, null=True), _c("data", JSON)),
          (_fk("certificate_id", "certificates", cascade=True),
           _fk("definition_id", "definitions", cascade=True)),
          (("ix_deployments_certificate_id", "certificate_id"),
           ("ix_deployments_definition_id", "definition_id"),
           ("ix_deployments_host_slot", "host, slot_id"), ("ix_deployments_state", "state"))),
    Table("deployment_files", (_id(), _c("deployment_id", INT), _c("position", INT),
                               _c("path", TEXT), _c("owner", STR, 64), _c("group", STR, 64),
                               _c("mode", INT), _c("existed", BOOL), _c("data", BLOB, null=True),
                               _c("key_id", STR, 32, null=True)),
          (_fk("deployment_id", "deployments", cascade=True), _fk("key_id", "private_keys")),
          (("ix_deployment_files_deployment_id", "deployment_id"),
           ("ix_deployment_files_key_id", "key_id"))),
    Table("observations", (_id(), _c("host", STR, 255, null=True), _c("address", STR, 255),
                           _c("port", INT), _c("tls", STR, 32), _c("sni", STR, 255, null=True),
                           _c("time", TIME), _c("ok", BOOL), _c("error", TEXT, null=True),
                           _c("chain_sha256", JSON), _c("leaf_sha256", STR, 64, null=True),
                           _c("not_after", TIME, null=True), _c("findings", JSON),
                           _OBSERVATION_LATEST),
          (), (("ix_observations_endpoint", "address, port, tls, time"),
               _OBSERVATION_LATEST_INDEX)),
    Table("users", (_id(), _c("name", STR, 255), _c("role", STR, 32),
                    _c("password_hash", STR, 255), _c("disabled", BOOL), *_created(),
                    # 0002 (web console): host patterns, first-login change, TOTP
                    *_WEB_USER_COLUMNS,
                    # 0003 (sign-in): TOTP replay, LDAP users
                    *_SIGNIN_USER_COLUMNS),
          ("CONSTRAINT uq_users_name UNIQUE (name)",)),
    _API_TOKENS,
    Table("audit_events", (_id(), _c("time", TIME), _c("actor", STR, 255),
                           _c("action", STR, 64), _c("object", TEXT), _c("detail", JSON)),
          (), (("ix_audit_events_action", "action"), ("ix_audit_events_time", "time"))),
)
TABLE_BY_NAME = {t.name: t for t in TABLES}


def q(name: str) -> str:
    """A quoted identifier (``key``, ``user``, ``group``, ``time``... are reserved somewhere)."""
    return f'"{name}"'


def _quote_list(columns: str) -> str:
    return ", ".join(q(c.strip()) for c in columns.split(","))


def _column_sql(table: Table, col: Column, backend: str) -> str:
    types = _SQLITE if backend == "sqlite" else _PG
    if col.kind == STR:
        kind = f"VARCHAR({col.length})"
    elif backend != "sqlite" and col.name == table.key == "id" and col.kind == INT:
        kind = "SERIAL"
    else:
        kind = types[col.kind]
    default = f" DEFAULT {col.default}" if col.default else ""
    return f"{q(col.name)} {kind}{'' if col.null else ' NOT NULL'}{default}"


def _table_sql(table: Table, backend: str) -> list[str]:
    lines = [_column_sql(table, col, backend) for col in table.columns]
    lines.append(f"CONSTRAINT pk_{table.name} PRIMARY KEY ({q(table.key)})")
    lines += [c.replace("{t}", table.name) for c in table.constraints]
    out = [f"CREATE TABLE {table.name} (\n\t" + ",\n\t".join(lines) + "\n)"]
    out += [f"CREATE INDEX {name} ON {table.name} ({_quote_list(cols)})"
            for name, cols in table.indexes]
    return out


def create_sql(backend: str) -> list[str]:
    """The statements creating every table and index at HEAD_REVISION on ``backend``."""
    out: list[str] = []
    for table in TABLES:
        out += _table_sql(table, backend)
    out.append(_acme_index(backend))
    out.append(CURRENT_EXPIRY_INDEX)
    out.append(f"CREATE TABLE {VERSION_TABLE} (version_num VARCHAR(32) NOT NULL, "
               "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
    out.append(f"INSERT INTO {VERSION_TABLE} (version_num) "  # noqa: S608 - our constants
               f"VALUES ('{HEAD_REVISION}')")
    return out


def _web_console(tx: Tx, backend: str) -> None:
    """0001 -> 0002, the web console: users' host patterns, first-login password change
    and TOTP secret; API tokens (stored hashed)."""
    users = TABLE_BY_NAME["users"]
    for col in _WEB_USER_COLUMNS:
        tx.execute(f"ALTER TABLE users ADD COLUMN {_column_sql(users, col, backend)}")
    for statement in _table_sql(_API_TOKENS, backend):
        tx.execute(statement)


def _signin(tx: Tx, backend: str) -> None:
    """0002 -> 0003, sign-in: the last accepted TOTP time step (no code twice) and the
    users' origin (local password or LDAP directory)."""
    users = TABLE_BY_NAME["users"]
    for col in _SIGNIN_USER_COLUMNS:
        tx.execute(f"ALTER TABLE users ADD COLUMN {_column_sql(users, col, backend)}")


def _observation_latest(tx: Tx, backend: str) -> None:
    """0003 -> 0004, the monitoring screen: mark each endpoint's newest observation."""
    observations = TABLE_BY_NAME["observations"]
    tx.execute("ALTER TABLE observations ADD COLUMN "
               f"{_column_sql(observations, _OBSERVATION_LATEST, backend)}")
    tx.execute("UPDATE observations SET latest = ? WHERE id IN (SELECT max(id) FROM "
               "observations GROUP BY address, port, tls, sni)", (True,))
    name, columns = _OBSERVATION_LATEST_INDEX
    tx.execute(f"CREATE INDEX {name} ON observations ({_quote_list(columns)})")


def _definition_rule_indexes(tx: Tx, backend: str) -> None:
    """0004 -> 0005, the dashboard: indexes for the renewal rule's reads of definitions."""
    name, columns = _RENEW_BEFORE_INDEX
    tx.execute(f"CREATE INDEX {name} ON definitions ({_quote_list(columns)})")
    tx.execute(_acme_index(backend))


def _current_expiry_index(tx: Tx, backend: str) -> None:
    """0005 -> 0006, the dashboard: the partial index of current certificates' expiries."""
    tx.execute(CURRENT_EXPIRY_INDEX)


# revision -> (next revision, the step that gets there).
MIGRATIONS: dict[str, tuple[str, Callable[[Tx, str], None]]] = {
    "0001": ("0002", _web_console),
    "0002": ("0003", _signin),
    "0003": ("0004", _observation_latest),
    "0004": ("0005", _definition_rule_indexes),
    "0005": ("0006", _current_expiry_index),
}


def ensure_schema(db: Database) -> None:
    """Create the schema on an empty database, bring an older one forward, and refuse a
    foreign, damaged or newer one.

    Raises:
        RepositoryError: the database cannot be read, is not certmgr's, or is newer.
    """
    if _revision(db) == HEAD_REVISION:  # the common case: one query
        return
    with db.tx(write=True) as tx:
        if db.backend == "postgresql":
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_ADVISORY_LOCK,))
        tables = db.table_names()  # again, under the lock: another certmgr may have won
        if not tables:
            for statement in create_sql(db.backend):
                tx.execute(statement)
            return
        _check_ours(db, tables)
        current = str(tx.scalar(f"SELECT version_num FROM {VERSION_TABLE}"))  # noqa: S608
        while current != HEAD_REVISION:
            step = MIGRATIONS.get(current)
            if step is None:
                raise RepositoryError(f"repository {db.shown} has schema revision {current}, "
                                      "unknown to this certmgr; upgrade certmgr")
            following, migrate = step
            migrate(tx, db.backend)
            tx.execute(f"UPDATE {VERSION_TABLE} SET version_num = ?", (following,))  # noqa: S608
            current = following


def _revision(db: Database) -> str | None:
    tables = db.table_names()
    if not {VERSION_TABLE, "meta", "certificates"} <= tables:
        return None
    versions = [r[0] for r in db.read().rows(f"SELECT version_num FROM {VERSION_TABLE}")]  # noqa: S608
    return str(versions[0]) if len(versions) == 1 else None


def _check_ours(db: Database, tables: set[str]) -> None:
    if VERSION_TABLE not in tables:
        raise RepositoryError(f"{db.shown} is a database that certmgr did not create; choose "
                              "another --db (certmgr never writes into foreign databases)")
    if "meta" not in tables or "certificates" not in tables:
        raise RepositoryError(f"{db.shown} is a database that certmgr did not create (another "
                              "application's migrations); choose another --db")
