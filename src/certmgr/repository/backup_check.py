"""Every row of a backup checked against the schema before it is restored.

An authenticated backup was still written by some certmgr: these checks make a
row that a bug, a downgrade or a hand edit (with the master key) got wrong a
one-line refusal instead of a repository that crashes later. Types, lengths,
NULLs, enumerations, JSON shapes, and the PEM of certificates, chains and CSRs.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from certmgr.errors import InputError
from certmgr.models import TlsMode
from certmgr.repository.records import (
    CertificateState,
    DeploymentState,
    HostKind,
    IssuerKind,
    RequestState,
)
from certmgr.repository.schema import BLOB, BOOL, INT, JSON, STR, TEXT, TIME, Column, Table

__all__ = ["check_row"]

_TEXT_MAX = 16 * 1024 * 1024
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # INTEGER on PostgreSQL
_LIST_COLUMNS = {"sans", "targets", "names", "chain_sha256", "findings", "hosts"}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ENUMS: dict[tuple[str, str], set[str]] = {
    ("hosts", "kind"): {k.value for k in HostKind},
    ("issuers", "kind"): {k.value for k in IssuerKind},
    ("certificates", "state"): {s.value for s in CertificateState},
    ("requests", "state"): {s.value for s in RequestState},
    ("deployments", "state"): {s.value for s in DeploymentState},
    ("endpoints", "tls"): {t.value for t in TlsMode},
    ("definitions", "key_type"): {"ec256", "ec384", "rsa2048", "rsa3072", "rsa4096", "ed25519"},
    ("meta", "key"): {"master_key"},
}


def check_row(table: Table, item: Any, path: Path) -> tuple[Any, ...]:
    """The row's values (times as aware datetimes, blobs as bytes, JSON as values).

    Raises:
        InputError: naming the table, the column and what is wrong.
    """
    if not isinstance(item, list) or len(item) != len(table.columns):
        raise _bad(path, table, "", "a row with the wrong number of values")
    values = tuple(_value(table, col, v, path) for col, v in zip(table.columns, item,
                                                                  strict=True))
    _check_table(table, dict(zip(table.column_names, values, strict=True)), path)
    return values


def _bad(path: Path, table: Table, column: str, what: str) -> InputError:
    where = f"{table.name}.{column}" if column else table.name
    return InputError(f"backup {path} is damaged ({where}: {what}); nothing was restored",
                      path=path)


def _value(table: Table, col: Column, value: Any, path: Path) -> Any:
    if value is None:
        if col.null:
            return None
        raise _bad(path, table, col.name, "missing value")
    kind = col.kind
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int) \
                or not _INT_MIN <= value <= _INT_MAX:
            raise _bad(path, table, col.name, "not a 32-bit integer")
    elif kind == BOOL:
        if not isinstance(value, bool):
            raise _bad(path, table, col.name, "not true or false")
    elif kind in (STR, TEXT):
        limit = col.length if kind == STR else _TEXT_MAX
        if not isinstance(value, str) or len(value) > limit or "\x00" in value:
            raise _bad(path, table, col.name, f"not a string of at most {limit} characters")
    elif kind == JSON:
        wanted = list if col.name in _LIST_COLUMNS else dict
        if not isinstance(value, wanted):
            raise _bad(path, table, col.name, f"not a JSON {wanted.__name__}")
    elif kind == TIME:
        try:
            parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _bad(path, table, col.name, "not a time with its UTC offset")
        return parsed
    elif kind == BLOB:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise _bad(path, table, col.name, "not base64") from None
    allowed = _ENUMS.get((table.name, col.name))
    if allowed is not None and value not in allowed:
        raise _bad(path, table, col.name, f"{str(value)[:40]!r} is not one of "
                   f"{', '.join(sorted(allowed))}")
    if col.name == "id" and kind == INT and value <= 0:
        raise _bad(path, table, col.name, "not a positive id")
    return value


def _check_table(table: Table, row: dict[str, Any], path: Path) -> None:
    if table.name == "certificates":
        try:
            cert = x509.load_pem_x509_certificate(row["cert_pem"].encode())
            if row["chain_pem"].strip():
                x509.load_pem_x509_certificates(row["chain_pem"].encode())
        except ValueError:
            raise _bad(path, table, "cert_pem", "not a PEM certificate and chain") from None
        if cert.not_valid_after_utc < cert.not_valid_before_utc or row["version"] <= 0:
            raise _bad(path, table, "version", "not a valid certificate version")
        if not re.fullmatch(r"[0-9a-f]{1,64}", row["serial"]):
            raise _bad(path, table, "serial", "not a serial number in hex")
        if row["version"] <= 0:
            raise _bad(path, table, "version", "not a positive version")
    elif table.name == "issuers" and row["certificates_pem"].strip():
        try:
            x509.load_pem_x509_certificates(row["certificates_pem"].encode())
        except ValueError:
            raise _bad(path, table, "certificates_pem", "not PEM certificates") from None
    elif table.name == "requests":
        try:
            x509.load_pem_x509_csr(row["csr_pem"].encode())
        except ValueError:
            raise _bad(path, table, "csr_pem", "not a PEM CSR") from None
    elif table.name == "endpoints" and not 0 < row["port"] < 65536:
        raise _bad(path, table, "port", "not a port number")
    elif table.name == "meta":
        value = row["value"]
        if value.get("mode") not in ("file", "passphrase") or not isinstance(
                value.get("check"), str):
            raise _bad(path, table, "value", "not a master key record")
    elif table.name == "deployment_files" and not 0 <= row["mode"] <= 0o7777:
        raise _bad(path, table, "mode", "not a file mode")
    for column in ("sha256", "public_sha256", "leaf_sha256"):
        value = row.get(column)
        if isinstance(value, str) and not _HEX64.fullmatch(value):
            raise _bad(path, table, column, "not a SHA-256 in hex")

