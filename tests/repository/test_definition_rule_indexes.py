"""Schema 0005: the renewal rule reads the definitions through two indexes, the widest
window (``ix_definitions_renew_before``) and the definitions whose data names acme
(the partial index ``ix_definitions_acme``), instead of a pass over every definition.
The planner of each backend can use both for the statements the rule runs, and the
partial index finds an ``acme`` key however deep (the dashboard judges those in Python).
(That a database migrated from 0004 has them as a new one does is checked by
tests/repository/test_migrations.py, which compares indexes too.)"""

from __future__ import annotations

import datetime as dt

from certmgr.issuers import make_definition
from certmgr.repository import Repository
from certmgr.repository.schema import acme_definition


def _plan(repo: Repository, sql: str) -> str:
    with repo._db.tx() as tx:
        if repo.backend == "sqlite":
            return " ".join(str(r[-1]) for r in tx.rows(f"EXPLAIN QUERY PLAN {sql}"))
        # a few rows: a sequential scan is cheaper; forbid it to see the index is usable
        tx.execute("SET LOCAL enable_seqscan = off")
        return " ".join(str(r[0]) for r in tx.rows(f"EXPLAIN {sql}"))


def test_the_rule_reads_definitions_through_indexes(repo: Repository) -> None:
    repo.save_definition(make_definition("plain", "plain.example.org",
                                         renew_before=dt.timedelta(days=30)))
    repo.save_definition(make_definition("wide", "wide.example.org",
                                         renew_before=dt.timedelta(days=45)))
    repo.save_definition(make_definition("top", "top.example.org",
                                         data={"acme": {"issuers": ["le"]}}))
    repo.save_definition(make_definition("deep", "deep.example.org",
                                         data={"x": {"acme": 1}}))
    acme = acme_definition(repo.backend, "d")
    ids = f"SELECT id FROM definitions AS d WHERE {acme}"  # noqa: S608
    assert "ix_definitions_acme" in _plan(repo, ids)
    widest = "SELECT max(renew_before_seconds) FROM definitions"
    assert "ix_definitions_renew_before" in _plan(repo, widest)
    with repo._db.tx() as tx:
        names = {r[0] for r in tx.rows(f"SELECT d.name FROM definitions AS d "  # noqa: S608
                                       f"WHERE d.id IN ({ids})")}
        assert names == {"top", "deep"}
        assert tx.scalar(widest) == 45 * 86400
