"""Backups edited as an attacker (checksum recomputed) or a key holder (HMAC too) would."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from certmgr.repository import masterkey as mk

Change = Callable[[list[Any]], None]


def edit_backup(path: Path, out: Path, change: Change, *, sign_with: Path | None = None) -> Path:
    """``path`` with its body's lines changed by ``change`` and its checksum recomputed
    (what anyone can do); with ``sign_with`` (a master key file) also its HMAC (what only
    a holder of the master key can do)."""
    head, _, body = path.read_bytes().partition(b"\n")
    header = json.loads(head)
    lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    change(lines)
    new_body = gzip.compress(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
    header["body_sha256"] = hashlib.sha256(new_body).hexdigest()
    if sign_with is not None:
        from certmgr.repository.backup import _header_mac

        header["hmac"] = _header_mac(mk.read_key_file(sign_with), header)
    out.write_bytes(json.dumps(header).encode() + b"\n" + new_body)
    return out


def set_column(table_name: str, column: str, value: Any) -> Change:
    """A change setting ``column`` of every row of ``table_name`` to ``value``."""
    def change(lines: list[Any]) -> None:
        table, columns = None, []
        for item in lines:
            if isinstance(item, dict):
                table, columns = item["table"], item["columns"]
            elif table == table_name:
                item[columns.index(column)] = value
    return change
