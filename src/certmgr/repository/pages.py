"""The console's lists a page at a time (issue 17: "Lists are paginated"): each method is
one read transaction with a COUNT and a ``LIMIT ? OFFSET ?`` under an ORDER BY that ends
on a unique column, so consecutive pages neither repeat nor skip a row (SQLite and
PostgreSQL alike). Each returns ``(records, total)``."""

from __future__ import annotations

from certmgr.repository.accounts import _TOKEN_SELECT, _USER_SELECT, _token, _user
from certmgr.repository.aggregates import Aggregates
from certmgr.repository.certs import _DEF_SELECT, _REQUEST_SELECT, _issuer
from certmgr.repository.decode import definition_from_tuple, request_from_tuple
from certmgr.repository.inventory import _HOST_SELECT, _host
from certmgr.repository.operations import _deployments
from certmgr.repository.records import (
    DefinitionRecord,
    DeploymentRecord,
    HostRecord,
    IssuerRecord,
    RequestRecord,
    RequestState,
    TokenRecord,
    UserRecord,
)

__all__ = ["Pages", "like_pattern"]


def like_pattern(part: str) -> str:
    """``%part%`` for ``LIKE ? ESCAPE '\\'``, lower-cased, with ``%``, ``_`` and ``\\`` taken
    literally."""
    escaped = part.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Pages(Aggregates):
    """One page of definitions, hosts, deployments, requests, issuers, users, tokens."""

    def definition_page(self, offset: int, limit: int, *, name_part: str | None = None
                        ) -> tuple[list[DefinitionRecord], int]:
        """Definitions by name; with ``name_part``, those whose name holds it (any case)."""
        where: str = ""  # a constant: the name part is bound as a parameter
        params: tuple[object, ...] = ()
        if name_part:
            where, params = " WHERE lower(name) LIKE ? ESCAPE '\\'", (like_pattern(name_part),)
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM definitions" + where,  # noqa: S608
                                  params) or 0)
            rows = tx.rows(f"{_DEF_SELECT}{where} ORDER BY name LIMIT ? OFFSET ?",
                           (*params, int(limit), int(offset)))
        return [definition_from_tuple(r) for r in rows], total

    def host_page(self, offset: int, limit: int, *, skip: str = "local"
                  ) -> tuple[list[HostRecord], int]:
        """Hosts by name, leaving out ``skip`` (the console lists ``local`` first itself)."""
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM hosts WHERE name <> ?", (skip,)) or 0)
            rows = tx.rows(_HOST_SELECT + " WHERE name <> ? ORDER BY name LIMIT ? OFFSET ?",
                           (skip, int(limit), int(offset)))
        return [_host(r) for r in rows], total

    def deployment_page(self, offset: int, limit: int) -> tuple[list[DeploymentRecord], int]:
        """Every deployment, newest first."""
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM deployments") or 0)
            found = _deployments(tx, " ORDER BY p.id DESC LIMIT ? OFFSET ?",
                                 (int(limit), int(offset)))
        return found, total

    def request_page(self, offset: int, limit: int) -> tuple[list[RequestRecord], int]:
        """Pending requests, oldest first."""
        pending = RequestState.PENDING.value
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM requests WHERE state = ?",
                                  (pending,)) or 0)
            rows = tx.rows(_REQUEST_SELECT + " WHERE r.state = ? ORDER BY r.id LIMIT ? OFFSET ?",
                           (pending, int(limit), int(offset)))
        return [request_from_tuple(r) for r in rows], total

    def issuer_page(self, offset: int, limit: int) -> tuple[list[IssuerRecord], int]:
        """Issuers by name."""
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM issuers") or 0)
            names = [r[0] for r in tx.rows("SELECT name FROM issuers ORDER BY name "
                                           "LIMIT ? OFFSET ?", (int(limit), int(offset)))]
            return [_issuer(tx, n) for n in names], total

    def user_page(self, offset: int, limit: int) -> tuple[list[UserRecord], int]:
        """Users by name."""
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM users") or 0)
            rows = tx.rows(_USER_SELECT + " ORDER BY name LIMIT ? OFFSET ?",
                           (int(limit), int(offset)))
        return [_user(r) for r in rows], total

    def token_page(self, offset: int, limit: int) -> tuple[list[TokenRecord], int]:
        """API tokens, oldest first."""
        with self._db.tx() as tx:
            total = int(tx.scalar("SELECT count(*) FROM api_tokens") or 0)
            rows = tx.rows(_TOKEN_SELECT + " ORDER BY t.id LIMIT ? OFFSET ?",
                           (int(limit), int(offset)))
        return [_token(r) for r in rows], total
