"""Aggregates over the whole repository, for the web console's dashboard: counts by
expiry, the first rows of each kind of problem, the expiry timeline, the newest
observation of every endpoint. Each is a few SQL statements driven by indexes (the
``(state, not_after)`` index of certificates above all); none reads one row per
definition into Python, so 100,000 certificates cost about what 100 do.

The renewal rule stays :func:`certmgr.issuers.schedule.renewal_state`: SQL here judges
only definitions whose window is their ``renew_before`` ahead of expiry (the rule for
the built-in CA and external CAs: due when ``not_after <= now + renew_before``).
Definitions that may follow an ACME schedule (their data names ``acme``:
:func:`certmgr.repository.schema.acme_definition`, indexed) are left out
of those counts and handed back whole (:attr:`ExpiryAggregate.acme`) for the caller to
judge with ``renewal_state`` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certmgr.repository.accounts import Accounts
from certmgr.repository.certs import _CERT_SELECT, _DEF_SELECT
from certmgr.repository.db import Tx
from certmgr.repository.decode import cert_from_tuple, decode_utc, definition_from_tuple
from certmgr.repository.operations import (
    _OBSERVATION_SELECT,
    _deployment_record,
    _observation,
)
from certmgr.repository.records import (
    CertificateRecord,
    CertificateState,
    DefinitionRecord,
    DeploymentRecord,
    DeploymentState,
    ObservationRecord,
)
from certmgr.repository.schema import acme_definition

__all__ = ["Aggregates", "DeploymentProblemRow", "ExpiryAggregate", "ExpiryRow",
           "ObservationAggregate"]

_CURRENT = CertificateState.CURRENT.value
_JUDGED = (
    "SELECT c.id, d.name, c.version, c.serial, c.sha256, c.subject, c.sans, c.not_before, "
    "c.not_after, c.issuer, c.cert_pem, c.chain_pem, c.key_id, c.state, c.created, d.name, "
    "d.cn, d.sans, d.key_type, d.validity_seconds, d.issuer, d.renew_before_seconds, "
    "d.targets, d.data, d.created, d.updated, d.id FROM certificates AS c JOIN definitions "
    "AS d ON c.definition_id = d.id")
_DEPLOYMENT_SELECT_RANKED = (
    "SELECT p.id, d.name, c.version, p.host, p.slot_id, p.state, p.reason, p.started, "
    "p.finished, p.data, ROW_NUMBER() OVER (PARTITION BY p.host, p.slot_id "
    "ORDER BY p.id DESC) AS rank_in_slot FROM deployments AS p JOIN certificates AS c "
    "ON p.certificate_id = c.id JOIN definitions AS d ON c.definition_id = d.id")
_FAILED = (DeploymentState.FAILED.value, DeploymentState.ROLLED_BACK.value)


@dataclass(frozen=True)
class _Rule:
    """The renewal rule at one time, for the definitions judged in SQL (``plain``):
    conditions over ``c``/``d`` with their parameters. ``valid_where`` holds only the
    part beyond ``c.state`` and ``c.not_after > now``; ``renew_upto`` bounds the renewal
    windows (now plus the widest); ``acme_ids``: the definitions left to Python."""

    expired_where: str
    expired_params: tuple[object, ...]
    renew_where: str
    renew_params: tuple[object, ...]
    valid_where: str
    valid_params: tuple[object, ...]
    renew_upto: datetime
    acme_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExpiryRow:
    """A current certificate in a problem list: its definition's name, version, expiry."""

    name: str
    version: int
    not_after: datetime


@dataclass(frozen=True)
class ExpiryAggregate:
    """Counts of definitions and current certificates by where they stand at ``now``.

    ``expired``/``renew`` and their first rows (by name) cover the definitions judged
    here; ``acme`` holds the others (current certificate, definition) to judge with
    ``renewal_state``. ``unissued_first``: definitions without a current certificate.
    """

    now: datetime
    definitions: int
    current: int
    expired: int
    renew: int
    expired_first: tuple[ExpiryRow, ...]
    renew_first: tuple[ExpiryRow, ...]
    unissued_first: tuple[str, ...]
    acme: tuple[tuple[CertificateRecord, DefinitionRecord], ...]
    timeline: tuple[int, ...] = ()  # current certificates: expired, per width, later

    @property
    def unissued(self) -> int:
        # at most one current certificate per definition (add_certificate supersedes)
        return max(0, self.definitions - self.current)


@dataclass(frozen=True)
class DeploymentProblemRow:
    """The last deployment of a definition to one of its targets, when it needs a look:
    failed, rolled back or unfinished, or a verified version other than the current."""

    definition: str
    host: str
    slot_id: str
    deployment_id: int
    state: DeploymentState
    version: int
    reason: str | None
    good_version: int | None
    current_version: int | None


@dataclass(frozen=True)
class ObservationAggregate:
    """How many endpoints have an observation, how many of their newest failed, and
    the newest observations that failed or carry findings (first by address)."""

    endpoints: int
    failed: int
    with_findings: int
    problem_rows: tuple[ObservationRecord, ...]


class Aggregates(Accounts):
    """The dashboard's reads; see the module's docstring."""

    def expiry_aggregate(self, now: datetime, *, first: int = 20, buckets: int = 52,
                         width: timedelta = timedelta(days=7)) -> ExpiryAggregate:
        """Counts and first rows (by name) of expired and due certificates at ``now``,
        and the timeline of expiries (see :attr:`ExpiryAggregate.timeline`)."""
        join = _judged_from(self.backend)
        with self._db.tx() as tx:
            definitions = int(tx.scalar("SELECT count(*) FROM definitions") or 0)
            timeline = _timeline(tx, self._db.time, now, buckets, width)
            rule = self._renewal_rule(tx, now)
            expired = int(tx.scalar(f"SELECT count(*) {join} WHERE {rule.expired_where}",
                                    rule.expired_params) or 0)
            renew = int(tx.scalar(f"SELECT count(*) {join} WHERE {rule.renew_where}",
                                  rule.renew_params) or 0)
            rows = f"SELECT d.name, c.version, c.not_after {join} WHERE "
            expired_first = _expiry_rows(
                tx, f"{rows}{rule.expired_where} ORDER BY d.name LIMIT ?",
                (*rule.expired_params, int(first)))
            renew_first = _expiry_rows(tx, f"{rows}{rule.renew_where} ORDER BY d.name LIMIT ?",
                                       (*rule.renew_params, int(first)))
            current = sum(timeline)
            unissued_first: tuple[str, ...] = ()
            if definitions > current:
                unissued_first = tuple(str(r[0]) for r in tx.rows(
                    "SELECT name FROM definitions WHERE id NOT IN (SELECT definition_id "
                    "FROM certificates WHERE state = ?) ORDER BY name LIMIT ?",
                    (_CURRENT, int(first))))
            acme = _acme_current(tx, rule.acme_ids)
        return ExpiryAggregate(now, definitions, current, expired, renew, expired_first,
                               renew_first, unissued_first, tuple(acme), tuple(timeline))

    def _renewal_rule(self, tx: Tx, now: datetime) -> _Rule:
        """The renewal rule at ``now`` as SQL conditions over ``c`` (certificates) joined
        to ``d`` (definitions), for the definitions it judges (see the module)."""
        t = self._db.time
        # through the indexes of schema 0005, not a pass over the definitions: the widest
        # window, and the definitions to be judged in Python
        widest = tx.scalar("SELECT max(renew_before_seconds) FROM definitions")
        acme = acme_definition(self.backend, "d")
        acme_ids = [int(r[0]) for r in tx.rows(
            f"SELECT id FROM definitions AS d WHERE {acme}")]  # noqa: S608
        plain = f"NOT ({acme})" if acme_ids else "1 = 1"
        # due: not_after <= now + the definition's renew_before, exactly, in the
        # backend's own time arithmetic; only over the index range up to the widest
        threshold, threshold_params = self._plus_seconds(now, "d.renew_before_seconds")
        upto = now + timedelta(seconds=int(widest or 0))
        return _Rule(
            f"c.state = ? AND c.not_after <= ? AND {plain}", (_CURRENT, t(now)),
            f"c.state = ? AND c.not_after > ? AND c.not_after <= ? AND {plain} "
            f"AND c.not_after <= {threshold}",
            (_CURRENT, t(now), t(upto), *threshold_params),
            f"{plain} AND NOT (c.not_after <= {threshold})", threshold_params,
            upto, tuple(acme_ids))

    def certificates_in_state(self, now: datetime, state: str,
                              judge: Callable[[CertificateRecord, DefinitionRecord], str],
                              offset: int, limit: int
                              ) -> tuple[list[CertificateRecord], list[DefinitionRecord], int]:
        """One page of the certificate list in one renewal ``state`` at ``now`` and how
        many rows are in it: ``expired``, ``renew``, ``valid`` (current certificates by
        expiry), ``none`` (definitions without a current one, by name), ``revoked``
        (those of them whose newest version is revoked, by name). The rule is
        :meth:`_renewal_rule`'s; ``judge`` gives the renewal state of each definition it
        leaves to Python (an ACME schedule), as the dashboard does."""
        t = self._db.time
        current = "c.state = ?"
        with self._db.tx() as tx:
            def count(sql: str, params: tuple[object, ...] = (_CURRENT,)) -> int:
                return int(tx.scalar(sql, params) or 0)

            n_current = (count("SELECT count(*) FROM certificates WHERE state = ?")
                         if state in ("none", "valid") else 0)
            if state == "none":
                total = max(0, count("SELECT count(*) FROM definitions", ()) - n_current)
                if offset >= total:  # e.g. every definition issued: no anti-join at all
                    return [], [], total
                return [], [definition_from_tuple(r) for r in tx.rows(
                    f"{_DEF_SELECT} WHERE id NOT IN (SELECT definition_id FROM certificates "  # noqa: S608
                    "WHERE state = ?) ORDER BY name LIMIT ? OFFSET ?",
                    (_CURRENT, int(limit), int(offset)))], total
            if state == "revoked":  # the newest version revoked, and none current
                where = ("c.state = ? AND NOT EXISTS (SELECT 1 FROM certificates AS n WHERE "
                         "n.definition_id = c.definition_id AND (n.version > c.version OR "
                         "n.state || '' = ?))")
                params: tuple[object, ...] = (CertificateState.REVOKED.value, _CURRENT)
                order = "d.name"
            elif state == "expired":  # the rule's first test: the same for every definition
                where, params, order = f"{current} AND c.not_after <= ?", (
                    _CURRENT, t(now)), "c.not_after, c.id"
            else:
                rule = self._renewal_rule(tx, now)
                judged = [(c.id, c.not_after, judge(c, d))
                          for c, d in _acme_current(tx, rule.acme_ids)]
                picked = [(i, at) for i, at, s in judged if s == state]
                # ids from the database, written as integers: no bound-parameter limit
                ids = ", ".join(str(int(i)) for i, _ in picked)
                also = f" OR c.id IN ({ids})" if picked else ""
                order = "c.not_after, c.id"
                if state == "renew":
                    upto = max([rule.renew_upto, *(at for _, at in picked)])
                    where = (f"{current} AND c.not_after > ? AND c.not_after <= ? AND "
                             f"(({rule.renew_where}){also})")
                    params = (_CURRENT, t(now), t(upto), *rule.renew_params)
                elif state == "valid":
                    where = f"{current} AND c.not_after > ? AND (({rule.valid_where}){also})"
                    params = (_CURRENT, t(now), *rule.valid_params)
                else:
                    raise ValueError(f"no renewal state {state!r}")
                n_renew = int(tx.scalar(
                    f"SELECT count(*) {_judged_from(self.backend)} "
                    f"WHERE {rule.renew_where}", rule.renew_params) or 0
                    ) + sum(1 for *_, s in judged if s == "renew")
                total = n_renew if state == "renew" else n_current - n_renew - count(
                    "SELECT count(*) FROM certificates WHERE state = ? AND not_after <= ?",
                    (_CURRENT, t(now)))
            if state in ("revoked", "expired"):
                total = int(tx.scalar(
                    f"SELECT count(*) {_judged_from(self.backend)} WHERE {where}",
                    params) or 0)
            certs = [cert_from_tuple(r) for r in tx.rows(
                f"{_CERT_SELECT} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                (*params, int(limit), int(offset)))]
        return certs, [], total

    def _plus_seconds(self, now: datetime, seconds_sql: str) -> tuple[str, tuple[object, ...]]:
        """SQL for ``now`` plus an integer column of seconds, as the backend stores
        times: SQLite's UTC text (whole seconds by ``datetime()``, then ``now``'s
        microseconds appended, so that text compares as time), PostgreSQL's
        ``timestamptz`` plus an interval."""
        if self.backend == "sqlite":
            whole = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
            return (f"(datetime(?, '+' || {seconds_sql} || ' seconds') || ?)",
                    (whole, f".{now.astimezone(UTC).microsecond:06d}"))
        return f"(CAST(? AS TIMESTAMP WITH TIME ZONE) + {seconds_sql} * INTERVAL '1 second')", (
            now,)

    def deployment_problem_rows(self, *, limit: int = 200) -> list[DeploymentProblemRow]:
        """For each definition and each of its targets, its last deployment there when
        it failed, was rolled back or did not finish, or when the newest verified one
        there is not the current version (at most ``limit``, by definition and slot)."""
        unfinished = tuple(st.value for st in DeploymentState if not st.finished)
        verified = DeploymentState.VERIFIED.value
        worry = (*_FAILED, *unfinished)
        # Candidates first, by what a row says of itself (failed, rolled back, unfinished;
        # or verified with a certificate no longer current), then only those: the last
        # to their slot, the slot still a target. A verified one is OUTDATED when there is
        # a current version (the newest verified is the last one itself).
        sql = (
            "SELECT d.name, p.host, p.slot_id, p.id, p.state, c.version, "  # noqa: S608
            "p.reason, c.version, cc.version FROM deployments AS p "
            "JOIN certificates AS c ON c.id = p.certificate_id "
            "JOIN definitions AS d ON d.id = p.definition_id "
            # "|| ''": look the current one up by definition (the unique index), never
            # through the (state, not_after) index, which would read every current
            # certificate for each row (SQLite picks it without statistics)
            "LEFT JOIN certificates AS cc ON cc.definition_id = p.definition_id "
            f"AND cc.state || '' = {_lit(_CURRENT)} "
            # candidates through indexes: by their own state, and the verified ones of
            # certificates no longer current (found from those certificates)
            "WHERE p.id IN (SELECT id FROM deployments WHERE state IN "
            f"({', '.join(map(_lit, worry))}) UNION ALL SELECT p2.id FROM certificates "
            "AS c2 JOIN deployments AS p2 ON p2.certificate_id = c2.id WHERE c2.state IN "
            f"({_lit(CertificateState.SUPERSEDED.value)}, {_lit(CertificateState.REVOKED.value)}) "
            f"AND p2.state || '' = {_lit(verified)}) "  # from c2 (few), not all verified p2
            "AND NOT EXISTS (SELECT 1 FROM deployments AS n WHERE n.host = p.host "
            "AND n.slot_id = p.slot_id AND n.definition_id = p.definition_id AND n.id > p.id) "
            "AND EXISTS (SELECT 1 FROM definition_targets AS t WHERE t.definition_id = "
            "p.definition_id AND t.host = p.host AND t.slot_id = p.slot_id) "
            f"AND (p.state <> {_lit(verified)} OR cc.version IS NOT NULL) "
            f"ORDER BY 1, 2, 3 LIMIT {int(limit)}")
        # no parameters: our own constants written out, so that PostgreSQL plans this
        # join once per connection (psycopg prepares a statement run 5 times) instead
        # of on every request (~7-10 ms of planning against ~3 ms of running)
        rows = self._db.read().rows(sql)
        return [DeploymentProblemRow(r[0], r[1], r[2], int(r[3]), DeploymentState(r[4]),
                                     int(r[5]), r[6], r[7], r[8]) for r in rows]

    def status_snapshot(self, *, history: int = 20
                        ) -> tuple[list[DefinitionRecord], dict[str, CertificateRecord],
                                   dict[tuple[str, str], list[DeploymentRecord]]]:
        """What ``certmgr status`` judges, in three statements of one transaction: every
        definition (by name), each one's current certificate (by definition name), and
        the newest ``history`` deployments of each slot (by (host, slot id), newest
        first; without their backup files)."""
        with self._db.tx() as tx:
            definitions = [definition_from_tuple(r)
                           for r in tx.rows(_DEF_SELECT + " ORDER BY name")]
            current: dict[str, CertificateRecord] = {}
            for r in tx.rows(_CERT_SELECT + " WHERE c.state = ? ORDER BY c.version",
                             (_CURRENT,)):
                cert = cert_from_tuple(r)
                current[cert.definition] = cert  # the highest version wins, as before
            deployments: dict[tuple[str, str], list[DeploymentRecord]] = {}
            for r in tx.rows(
                    f"SELECT * FROM ({_DEPLOYMENT_SELECT_RANKED}) AS ranked "  # noqa: S608
                    "WHERE ranked.rank_in_slot <= ? ORDER BY ranked.host, ranked.slot_id, "
                    "ranked.id DESC", (int(history),)):
                deployments.setdefault((r[3], r[4]), []).append(_deployment_record(r[:10], []))
        return definitions, current, deployments

    def observation_aggregate(self, *, first: int = 50) -> ObservationAggregate:
        """The newest observation of every endpoint, counted; the first ``first`` of
        those that failed or carry findings (by address and port)."""
        columns = ", ".join(f"o.{c.strip()}" for c in _OBSERVATION_SELECT.removeprefix(
            "SELECT ").split(" FROM ")[0].split(","))
        # one statement: the newest of each endpoint (marked ``latest``) read once
        # (MATERIALIZED), then counted and the first problems picked from it
        sql = (
            "WITH newest AS MATERIALIZED (SELECT id, ok, address, port, CASE WHEN "  # noqa: S608
            "CAST(findings AS TEXT) <> '[]' THEN 1 ELSE 0 END AS found FROM observations "
            "WHERE latest = ?), "
            "counted AS (SELECT count(*) AS n, sum(CASE WHEN ok THEN 0 ELSE 1 END) "
            "AS failed, sum(CASE WHEN ok AND found = 1 THEN 1 ELSE 0 END) AS found "
            "FROM newest), picked AS (SELECT id FROM newest WHERE NOT ok OR found = 1 "
            "ORDER BY address, port, id LIMIT ?) "
            f"SELECT counted.n, counted.failed, counted.found, {columns} FROM counted "
            "LEFT JOIN picked ON 1 = 1 LEFT JOIN observations AS o ON o.id = picked.id "
            "ORDER BY o.address, o.port, o.id")
        rows = self._db.read().rows(sql, (True, int(first)))
        n, failed, findings = rows[0][:3] if rows else (0, 0, 0)
        return ObservationAggregate(int(n or 0), int(failed or 0), int(findings or 0),
                                    tuple(_observation(r[3:]) for r in rows
                                          if r[3] is not None))


def _timeline(tx: Tx, t: Any, now: datetime, buckets: int, width: timedelta) -> list[int]:
    """``[expired, first width after now, second..., later than buckets*width]``: one
    statement of range counts over an index of the current certificates' expiries.

    Each range is a scalar subquery of one row, not a branch of a ``UNION ALL``: over
    54 branches PostgreSQL planned a Parallel Append and started workers for it on every
    request (100k certificates: ~22 ms against ~8 ms now; a single pass counting every
    current certificate takes ~6). The state is a literal so that PostgreSQL may read
    the partial index of current certificates (schema 0006) whatever plan it keeps."""
    current = f"SELECT count(*) FROM certificates WHERE state = {_lit(_CURRENT)} AND"  # noqa: S608
    counts = [f"({current} not_after <= ?)"]
    params: list[object] = [t(now)]
    for i in range(buckets):
        counts.append(f"({current} not_after > ? AND not_after <= ?)")
        params += [t(now + i * width), t(now + (i + 1) * width)]
    counts.append(f"({current} not_after > ?)")
    params += [t(now + buckets * width)]
    row = tx.rows(f"SELECT {', '.join(counts)}", params)[0]
    return [int(n or 0) for n in row]


def _lit(value: str) -> str:
    """One of our own state names as an SQL literal (never a value from outside)."""
    if not value.replace("_", "").isalnum():
        raise ValueError(f"not a state name: {value!r}")
    return f"'{value}'"


def _judged_from(backend: str) -> str:
    """``FROM`` certificates ``c`` with their definitions ``d``, for statements over an
    index range of ``c`` that judge each row by ``d``. On PostgreSQL each definition is
    looked up by its key (a LATERAL subquery the planner cannot flatten): as a join it
    hashed all 100,000 definitions for 1,000 due certificates (12-16 ms, not 4)."""
    if backend == "postgresql":
        return ("FROM certificates AS c CROSS JOIN LATERAL (SELECT * FROM definitions AS d0 "
                "WHERE d0.id = c.definition_id OFFSET 0) AS d")
    return "FROM certificates AS c JOIN definitions AS d ON c.definition_id = d.id"


def _acme_current(tx: Tx, ids: tuple[int, ...]
                  ) -> list[tuple[CertificateRecord, DefinitionRecord]]:
    """The current certificates of the definitions ``ids``, with their definitions."""
    out: list[tuple[CertificateRecord, DefinitionRecord]] = []
    for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        out += [(cert_from_tuple(r[:15]), definition_from_tuple(r[15:]))
                for r in tx.rows(_JUDGED + f" WHERE c.state = ? AND d.id IN "
                                 f"({', '.join('?' * len(chunk))})", (_CURRENT, *chunk))]
    return out


def _expiry_rows(tx: Tx, sql: str, params: tuple[Any, ...]) -> tuple[ExpiryRow, ...]:
    return tuple(ExpiryRow(str(r[0]), int(r[1]), decode_utc(r[2]))
                 for r in tx.rows(sql, params))
