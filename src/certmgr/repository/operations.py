"""Deployments (with the backups they can return to) and observations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from certmgr.errors import NotFound
from certmgr.repository.certs import Certs
from certmgr.repository.db import Row, Tx
from certmgr.repository.decode import decode_json, decode_utc
from certmgr.repository.inventory import split_target
from certmgr.repository.records import (
    BackupFile,
    DeploymentRecord,
    DeploymentState,
    ObservationRecord,
)
from certmgr.repository.values import utcnow

__all__ = ["OBSERVATIONS_KEPT", "LatestSummary", "Operations"]

#: (observation id, address, port, tls, sni, host, ok, finding codes) of an endpoint's
#: newest observation: what a list of 10,000 endpoints sorts and filters on.
LatestSummary = tuple[int, str, int, str, str | None, str | None, bool, tuple[str, ...]]

OBSERVATIONS_KEPT = 100  # per endpoint: monitoring history is bounded
_DEPLOYMENT_SELECT = (
    "SELECT p.id, d.name, c.version, p.host, p.slot_id, p.state, p.reason, p.started, "
    "p.finished, p.data FROM deployments AS p JOIN certificates AS c "
    "ON p.certificate_id = c.id JOIN definitions AS d ON c.definition_id = d.id")
_OBSERVATION_SELECT = (
    'SELECT id, host, address, port, tls, sni, "time", ok, error, chain_sha256, leaf_sha256, '
    "not_after, findings FROM observations")
_SAME_ENDPOINT = "address = ? AND port = ? AND tls = ? AND sni = ?"
_SAME_ENDPOINT_NULL = "address = ? AND port = ? AND tls = ? AND sni IS NULL"


class Operations(Certs):
    """Deployments, observations."""

    # -- deployments -----------------------------------------------------------------

    def create_deployment(self, definition: str, version: int, target: str, *,
                          data: Mapping[str, Any] | None = None) -> DeploymentRecord:
        """Start a deployment of ``definition`` version ``version`` to ``[HOST/]SLOT-ID``
        (state ``planned``)."""
        host, slot_id = split_target(target)
        with self._db.tx(write=True) as tx:
            found = tx.one("SELECT c.id, d.id FROM certificates AS c JOIN definitions AS d "
                           "ON c.definition_id = d.id WHERE d.name = ? AND c.version = ?",
                           (definition, int(version)))
            if found is None:
                raise NotFound(f"no version {version} of certificate {definition!r}")
            cert_id, def_id = found
            dep_id = tx.insert(
                "INSERT INTO deployments (definition_id, certificate_id, host, slot_id, state, "
                "reason, started, finished, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (def_id, cert_id, host, slot_id, DeploymentState.PLANNED.value, None,
                 self._db.time(utcnow()), None, json.dumps(dict(data or {}))))
            self._audit(tx, "deployment.create", f"{host}/{slot_id}",
                        {"definition": definition, "version": version, "deployment": dep_id})
            return _deployment(tx, dep_id)

    def update_deployment(self, deployment_id: int, state: DeploymentState | str, *,
                          reason: str | None = None,
                          backup: Sequence[BackupFile] | None = None,
                          data: Mapping[str, Any] | None = None) -> DeploymentRecord:
        """Move a deployment to ``state``; a final state sets ``finished``.

        ``backup`` (given once, before the apply step) records each file as it
        was; files marked ``secret`` are stored encrypted.
        """
        state = DeploymentState(state)
        with self._db.tx(write=True) as tx:
            row = tx.one("SELECT host, slot_id, reason, data FROM deployments WHERE id = ?",
                         (deployment_id,))
            if row is None:
                raise NotFound(f"no deployment {deployment_id} in the repository")
            host, slot_id, old_reason, old_data = row
            new_reason = reason if reason is not None else old_reason
            new_data = dict(decode_json(old_data))
            if data is not None:
                new_data.update(data)
            finished = self._db.time(utcnow()) if state.finished else None
            tx.execute("UPDATE deployments SET state = ?, reason = ?, data = ?, "
                       "finished = COALESCE(?, finished) WHERE id = ?",
                       (state.value, new_reason, json.dumps(new_data), finished,
                        deployment_id))
            if state.finished:
                self._audit(tx, f"deployment.{state.value}", f"{host}/{slot_id}",
                            {"deployment": deployment_id, "reason": new_reason})
            if backup is not None:
                self._save_backup(tx, deployment_id, backup)
            return _deployment(tx, deployment_id)

    def get_deployment(self, deployment_id: int) -> DeploymentRecord:
        with self._db.tx() as tx:
            return _deployment(tx, deployment_id)

    def deployment_history(self, target: str, *, limit: int = 50) -> list[DeploymentRecord]:
        """Deployments to ``[HOST/]SLOT-ID``, newest first."""
        host, slot_id = split_target(target)
        with self._db.tx() as tx:
            return _deployments(tx, " WHERE p.host = ? AND p.slot_id = ? ORDER BY p.id DESC "
                                "LIMIT ?", (host, slot_id, int(limit)))

    def move_deployments(self, old_target: str, new_target: str) -> int:
        """Give ``old_target``'s deployment history to ``new_target`` (both ``[HOST/]SLOT-ID``).

        Discovery renames a slot when it finds that two it reported were one
        credential on two listeners; the history follows the slot. Returns how
        many deployments moved.
        """
        old_host, old_slot = split_target(old_target)
        new_host, new_slot = split_target(new_target)
        with self._db.tx(write=True) as tx:
            moved = int(tx.scalar("SELECT count(*) FROM deployments WHERE host = ? AND "
                                  "slot_id = ?", (old_host, old_slot)) or 0)
            if moved:
                tx.execute("UPDATE deployments SET host = ?, slot_id = ? WHERE host = ? AND "
                           "slot_id = ?", (new_host, new_slot, old_host, old_slot))
                self._audit(tx, "deployment.move", f"{old_host}/{old_slot}",
                            {"to": f"{new_host}/{new_slot}", "deployments": moved})
            return moved

    def deployment_targets(self) -> list[str]:
        """Every ``HOST/SLOT-ID`` that has deployments, sorted (whatever definitions target now)."""
        rows = self._db.read().rows("SELECT DISTINCT host, slot_id FROM deployments "
                                    "ORDER BY host, slot_id")
        return [f"{host}/{slot_id}" for host, slot_id in rows]

    def unfinished_deployments(self) -> list[DeploymentRecord]:
        """Deployments not in a final state (e.g. interrupted): they may need a rollback."""
        final = [st.value for st in DeploymentState if st.finished]
        marks = ", ".join("?" * len(final))
        with self._db.tx() as tx:
            return _deployments(tx, f" WHERE p.state NOT IN ({marks}) ORDER BY p.id",
                                tuple(final))

    def _save_backup(self, tx: Tx, deployment_id: int, files: Sequence[BackupFile]) -> None:
        tx.execute("DELETE FROM deployment_files WHERE deployment_id = ?", (deployment_id,))
        for position, f in enumerate(files):
            key_id = None
            data = f.data
            if f.secret and data is not None:
                key_id = self._store_key(tx, data, kind="backup-file")
                data = None
            tx.execute('INSERT INTO deployment_files (deployment_id, "position", path, owner, '
                       '"group", mode, existed, data, key_id) '
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (deployment_id, position, f.path, f.owner, f.group, f.mode,
                        bool(f.existed), data, key_id))

    # -- observations ----------------------------------------------------------------

    def add_observation(self, observation: ObservationRecord, *,
                        keep: int = OBSERVATIONS_KEPT) -> ObservationRecord:
        """Record what an endpoint served; only the newest ``keep`` per endpoint are kept."""
        o = observation
        t = self._db.time
        same, params = _same_endpoint(o.address, o.port, o.tls, o.sni)
        with self._db.tx(write=True) as tx:
            new_id = tx.insert(
                'INSERT INTO observations (host, address, port, tls, sni, "time", ok, error, '
                "chain_sha256, leaf_sha256, not_after, findings, latest) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (o.host, o.address, o.port, o.tls, o.sni, t(o.time), bool(o.ok), o.error,
                 json.dumps(list(o.chain_sha256)), o.leaf_sha256,
                 None if o.not_after is None else t(o.not_after), json.dumps(list(o.findings)),
                 False))
            tx.execute("DELETE FROM observations WHERE id IN (SELECT id FROM observations "  # noqa: S608
                       f'WHERE {same} ORDER BY "time" DESC, id DESC LIMIT -1 OFFSET ?)'
                       if self.backend == "sqlite" else
                       "DELETE FROM observations WHERE id IN (SELECT id FROM observations "  # noqa: S608
                       f'WHERE {same} ORDER BY "time" DESC, id DESC OFFSET ?)',
                       (*params, int(keep)))
            # The endpoint's newest observation by time is marked (latest_observations reads
            # those): usually the new one, but not when it is older than what is stored
            # (an import of old results), and then the history may have dropped it.
            newest = tx.scalar(f"SELECT id FROM observations WHERE {same} "  # noqa: S608
                               'ORDER BY "time" DESC, id DESC LIMIT 1', params)
            tx.execute(f"UPDATE observations SET latest = ? WHERE {same} AND latest = ? "  # noqa: S608
                       "AND id <> ?", (False, *params, True, newest))
            tx.execute("UPDATE observations SET latest = ? WHERE id = ?", (True, newest))
            row = tx.one(_OBSERVATION_SELECT + " WHERE id = ?", (new_id,))
        # None: older than the ``keep`` newest, so not kept
        return observation if row is None else _observation(row)

    def observation_history(self, address: str, port: int, tls: str, sni: str | None = None,
                            *, limit: int = OBSERVATIONS_KEPT) -> list[ObservationRecord]:
        """An endpoint's observations, newest first."""
        same, params = _same_endpoint(address, port, tls, sni)
        rows = self._db.read().rows(f'{_OBSERVATION_SELECT} WHERE {same} ORDER BY "time" DESC, '
                                    "id DESC LIMIT ?", (*params, int(limit)))
        return [_observation(r) for r in rows]

    def latest_observations(self) -> list[ObservationRecord]:
        """The newest observation of every endpoint (marked when stored: schema 0003)."""
        rows = self._db.read().rows(
            f"{_OBSERVATION_SELECT} WHERE latest = ? ORDER BY address, port", (True,))
        return [_observation(r) for r in rows]

    def latest_summaries(self, *, after: int | None = None) -> list[LatestSummary]:
        """Each endpoint's newest observation in brief (findings by code only); with
        ``after``, only those stored since the observation of that id (through the
        primary key: a probe's few, not every endpoint's)."""
        rows = self._db.read().rows(
            "SELECT id, address, port, tls, sni, host, ok, findings FROM observations "  # noqa: S608
            "WHERE latest = ?" + (" AND id > ? ORDER BY id" if after is not None else ""),
            (True, *(() if after is None else (int(after),))))
        return [(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]),
                 () if r[7] in ("[]", []) else
                 tuple(str(f.get("code", "")) for f in decode_json(r[7])))
                for r in rows]

    def endpoints_version(self) -> tuple[Any, ...]:
        """Changes whenever an observation is stored, a discovery saved or a host added,
        changed or removed: what a list of the endpoints may be kept under. Its first
        item is the newest observation's id, its last how many are marked latest (so a
        list kept may be brought forward by the observations stored since, and a marked
        one removed is noticed)."""
        row = self._db.read().one(
            "SELECT (SELECT max(id) FROM observations), (SELECT max(id) FROM endpoints), "
            "(SELECT count(*) FROM endpoints), (SELECT max(updated) FROM hosts), "
            "(SELECT count(*) FROM hosts), (SELECT count(*) FROM observations "
            "WHERE latest = ?)", (True,))
        return tuple(row or ())

    def observations_by_id(self, ids: Sequence[int]) -> list[ObservationRecord]:
        """The observations ``ids`` (at most 500), in no particular order."""
        ids = [int(i) for i in ids][:500]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        rows = self._db.read().rows(f"{_OBSERVATION_SELECT} WHERE id IN ({marks})", ids)
        return [_observation(r) for r in rows]


def _same_endpoint(address: str, port: int, tls: str,
                   sni: str | None) -> tuple[str, tuple[object, ...]]:
    if sni is None:
        return _SAME_ENDPOINT_NULL, (address, int(port), tls)
    return _SAME_ENDPOINT, (address, int(port), tls, sni)


def _deployments(tx: Tx, where: str, params: tuple[object, ...]) -> list[DeploymentRecord]:
    rows = tx.rows(_DEPLOYMENT_SELECT + where, params)
    files: dict[int, list[BackupFile]] = {}
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), 500):  # below SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for f in tx.rows('SELECT deployment_id, path, owner, "group", mode, existed, data, '  # noqa: S608
                         f'key_id FROM deployment_files WHERE deployment_id IN ({marks}) '
                         'ORDER BY deployment_id, "position"', chunk):
            data = bytes(f[6]) if f[6] is not None else None
            files.setdefault(f[0], []).append(
                BackupFile(f[1], f[2], f[3], f[4], bool(f[5]), data, secret=f[7] is not None,
                           key_ref=f[7]))
    return [_deployment_record(r, files.get(r[0], [])) for r in rows]


def _deployment(tx: Tx, deployment_id: int) -> DeploymentRecord:
    found = _deployments(tx, " WHERE p.id = ?", (deployment_id,))
    if not found:
        raise NotFound(f"no deployment {deployment_id} in the repository")
    return found[0]


def _deployment_record(r: Row, files: list[BackupFile]) -> DeploymentRecord:
    id_, definition, version, host, slot_id, state, reason, started, finished, data = r
    return DeploymentRecord(id_, definition, version, host, slot_id, DeploymentState(state),
                            reason, decode_utc(started),
                            decode_utc(finished) if finished is not None else None,
                            tuple(files), dict(decode_json(data)))


def _observation(r: Row) -> ObservationRecord:
    (id_, host, address, port, tls, sni, time, ok, error, chain, leaf, not_after,
     findings) = r
    return ObservationRecord(
        address=address, port=port, tls=tls, time=decode_utc(time), ok=bool(ok), host=host,
        sni=sni, error=error, chain_sha256=tuple(decode_json(chain)), leaf_sha256=leaf,
        not_after=decode_utc(not_after) if not_after is not None else None,
        findings=tuple(decode_json(findings)), id=id_)
