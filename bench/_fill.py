"""Bulk rows straight into a repository certmgr created (benchmarks only: 100k rows by
SQL take seconds, through ``add_certificate`` minutes)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from certmgr.repository import Repository
from certmgr.repository.schema import JSON, TABLE_BY_NAME, TIME, q


def bulk_insert(repo: Repository, tables: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
                ) -> None:
    """Insert ``(table, rows)`` in one transaction; row values as the records hold them."""
    db = repo._db
    with db.tx(write=True) as tx:
        for name, rows in tables:
            if not rows:
                continue
            table = TABLE_BY_NAME[name]
            columns = [c for c in table.columns if c.name in rows[0]]
            sql = (f"INSERT INTO {name} ({', '.join(q(c.name) for c in columns)}) "  # noqa: S608
                   f"VALUES ({', '.join('?' * len(columns))})")
            tx.executemany(sql, [tuple(
                db.time(row[c.name]) if c.kind == TIME and row[c.name] is not None
                else json.dumps(row[c.name]) if c.kind == JSON else row[c.name]
                for c in columns) for row in rows])
