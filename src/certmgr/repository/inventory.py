"""Hosts and what discovery found on them: services, slots, endpoints."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from certmgr.errors import InputError, NotFound
from certmgr.models import Endpoint, TlsMode
from certmgr.repository.core import RepositoryCore
from certmgr.repository.db import Row, Tx
from certmgr.repository.decode import decode_json
from certmgr.repository.records import HostKind, HostRecord, ServiceRecord, SlotRecord
from certmgr.repository.values import utcnow

__all__ = ["Inventory", "split_target"]

LOCAL = "local"
_SLOT_PATHS = ("cert", "key", "chain", "ca", "keystore", "keystore_type")
_HOST_SELECT = "SELECT name, kind, address, params, id FROM hosts"
_SLOT_SELECT = (
    'SELECT s.id, h.name, s.slot_id, v.kind, v.config, s.config, s.names, s.cert, s."key", '
    "s.chain, s.ca, s.keystore, s.keystore_type, s.data FROM slots AS s "
    "JOIN hosts AS h ON s.host_id = h.id JOIN services AS v ON s.service_id = v.id")
_SLOT_ORDER = " ORDER BY h.name, s.slot_id"


class Inventory(RepositoryCore):
    """Hosts, services, slots and endpoints."""

    # -- hosts -----------------------------------------------------------------------

    def upsert_host(self, name: str, kind: HostKind | str = HostKind.LOCAL,
                    address: str | None = None,
                    params: Mapping[str, Any] | None = None) -> HostRecord:
        """Create or update host ``name``."""
        kind = HostKind(kind)
        with self._db.tx(write=True) as tx:
            host_id = self._host_id(tx, name, create=True, kind=kind)
            tx.execute("UPDATE hosts SET kind = ?, address = ?, params = ?, updated = ? "
                       "WHERE id = ?", (kind.value, address, json.dumps(dict(params or {})),
                                        self._db.time(utcnow()), host_id))
            return self._host(tx, name)

    def get_host(self, name: str) -> HostRecord:
        """Host ``name``.  Raises NotFound."""
        return self._host(self._db.read(), name)

    def list_hosts(self) -> list[HostRecord]:
        return [_host(r) for r in self._db.read().rows(_HOST_SELECT + " ORDER BY name")]

    def delete_host(self, name: str) -> None:
        """Remove host ``name`` and everything discovered on it.  Raises NotFound."""
        with self._db.tx(write=True) as tx:
            host_id = self._host_id(tx, name)
            tx.execute("DELETE FROM hosts WHERE id = ?", (host_id,))
            self._audit(tx, "host.delete", f"host:{name}", {})

    def _host(self, tx: Tx, name: str) -> HostRecord:
        row = tx.one(_HOST_SELECT + " WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no host {name!r} in the repository; add it or run discover first")
        return _host(row)

    def _host_id(self, tx: Tx, name: str, *, create: bool = False,
                 kind: HostKind = HostKind.LOCAL) -> int:
        found = tx.scalar("SELECT id FROM hosts WHERE name = ?", (name,))
        if found is not None:
            return int(found)
        if not create:
            raise NotFound(f"no host {name!r} in the repository; add it or run discover first")
        now = self._db.time(utcnow())
        return tx.insert("INSERT INTO hosts (name, kind, address, params, created, updated) "
                         "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                         (name, kind.value, None, "{}", now, now))

    # -- discovery -------------------------------------------------------------------

    def save_discovery(self, host_name: str, services: Sequence[Mapping[str, Any]]) -> int:
        """Replace what is known about ``host_name``'s services with a new discovery.

        Args:
            host_name: the host (created as a ``local`` host if unknown).
            services: exactly the list ``certmgr discover --json`` prints: each
                ``{"kind", "config", "user", "slots": [{"id", "config", "names",
                "endpoints": [{"address", "port", "tls", "sni"}], "cert", "key", "chain",
                "ca", "keystore", "keystore_type"}]}``; other keys are kept in ``data``.

        Returns:
            The number of slots saved.

        Raises:
            InputError: an entry lacks a required field or has a bad endpoint.
        """
        with self._db.tx(write=True) as tx:
            host_id = self._host_id(tx, host_name, create=True)
            tx.execute("DELETE FROM services WHERE host_id = ?", (host_id,))
            count = 0
            for service in services:
                count += _save_service(tx, host_id, service)
            tx.execute("UPDATE hosts SET updated = ? WHERE id = ?",
                       (self._db.time(utcnow()), host_id))
            self._audit(tx, "discovery.save", f"host:{host_name}",
                        {"services": len(services), "slots": count})
            return count

    def list_services(self, host_name: str | None = None) -> list[ServiceRecord]:
        sql = ('SELECT h.name, v.kind, v.config, v."user", v.data, v.id FROM services AS v '
               "JOIN hosts AS h ON v.host_id = h.id")
        params: tuple[object, ...] = ()
        if host_name is not None:
            sql += " WHERE h.name = ?"
            params = (host_name,)
        sql += " ORDER BY h.name, v.kind, v.config"
        return [ServiceRecord(r[0], r[1], r[2], r[3], dict(decode_json(r[4])), r[5])
                for r in self._db.read().rows(sql, params)]

    def list_slots(self, host_name: str | None = None, *,
                   service_kind: str | None = None) -> list[SlotRecord]:
        """Slots with their endpoints, by host then slot id."""
        where, params = [], []
        if host_name is not None:
            where.append("h.name = ?")
            params.append(host_name)
        if service_kind is not None:
            where.append("v.kind = ?")
            params.append(service_kind)
        sql = _SLOT_SELECT + (" WHERE " + " AND ".join(where) if where else "") + _SLOT_ORDER
        with self._db.tx() as tx:
            return _slots(tx, sql, params)

    def get_slot(self, target: str) -> SlotRecord:
        """The slot named ``[HOST/]SLOT-ID`` (bare: host ``local``).  Raises NotFound."""
        host, slot_id = split_target(target)
        with self._db.tx() as tx:
            found = _slots(tx, _SLOT_SELECT + " WHERE h.name = ? AND s.slot_id = ?"
                           + _SLOT_ORDER, [host, slot_id])
        if not found:
            raise NotFound(f"no slot {slot_id!r} on host {host!r}; run `certmgr discover` "
                           "to find the slots")
        return found[0]

    def slot_endpoints(self) -> list[tuple[str, str, Endpoint]]:
        """(host, slot id, endpoint) of every slot's endpoints, by host and slot, in one
        query (the monitoring screen lists 10,000 of them per request)."""
        rows = self._db.read().rows(
            "SELECT h.name, s.slot_id, e.address, e.port, e.tls, e.sni FROM endpoints AS e "
            "JOIN slots AS s ON e.slot_id = s.id JOIN hosts AS h ON s.host_id = h.id "
            "ORDER BY h.name, s.slot_id, e.id")
        modes = {m.value: m for m in TlsMode}
        return [(r[0], r[1], Endpoint(r[2], r[3], modes[r[4]], r[5])) for r in rows]

    def find_slots_by_endpoint(self, address: str, port: int) -> list[SlotRecord]:
        """Slots served on ``address:port`` (``*`` listens match any address)."""
        sql = (_SLOT_SELECT + " WHERE s.id IN (SELECT e.slot_id FROM endpoints AS e "  # noqa: S608
               "WHERE e.port = ? AND e.address IN (?, '*'))" + _SLOT_ORDER)
        with self._db.tx() as tx:
            return _slots(tx, sql, [int(port), address])


def split_target(target: str) -> tuple[str, str]:
    """``"web1/apache2:x"`` -> ``("web1", "apache2:x")``; a bare slot id is on ``local``.

    Slot ids never contain ``/`` but host names may (``ssh://root@198.18.0.2``), so
    the split is at the last ``/``.
    """
    host, sep, slot_id = target.rpartition("/")
    if not sep:
        return LOCAL, target
    if not host or not slot_id:
        raise InputError(f"target {target!r} must be [HOST/]SLOT-ID")
    return host, slot_id


def _save_service(tx: Tx, host_id: int, service: Mapping[str, Any]) -> int:
    try:
        kind, config = str(service["kind"]), str(service["config"])
    except KeyError as exc:
        raise InputError(f"discovery entry without {exc.args[0]!r}: {dict(service)!r:.120}") \
            from None
    extra = {k: v for k, v in service.items() if k not in ("kind", "config", "user", "slots")}
    service_id = tx.insert('INSERT INTO services (host_id, kind, config, "user", data) '
                           "VALUES (?, ?, ?, ?, ?) RETURNING id",
                           (host_id, kind, config, service.get("user"), json.dumps(extra)))
    slots = service.get("slots") or []
    for slot in slots:
        _save_slot(tx, host_id, service_id, slot)
    return len(slots)


def _save_slot(tx: Tx, host_id: int, service_id: int, slot: Mapping[str, Any]) -> None:
    if not slot.get("id"):
        raise InputError(f"discovered slot without an id: {dict(slot)!r:.120}")
    known = {"id", "config", "names", "endpoints", *_SLOT_PATHS}
    slot_id = str(slot["id"])
    row_id = tx.insert(
        'INSERT INTO slots (host_id, service_id, slot_id, config, names, cert, "key", chain, '
        "ca, keystore, keystore_type, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        (host_id, service_id, slot_id, slot.get("config"),
         json.dumps(list(slot.get("names") or [])), *(slot.get(k) for k in _SLOT_PATHS),
         json.dumps({k: v for k, v in slot.items() if k not in known})))
    endpoints = [_endpoint(ep, slot_id) for ep in slot.get("endpoints") or []]
    tx.executemany("INSERT INTO endpoints (slot_id, address, port, tls, sni) "
                   "VALUES (?, ?, ?, ?, ?)",
                   [(row_id, e.address, e.port, e.tls.value, e.sni) for e in endpoints])


def _endpoint(data: Mapping[str, Any], slot_id: str) -> Endpoint:
    try:
        return Endpoint(str(data["address"]), int(data["port"]),
                        TlsMode(data.get("tls") or "direct"), data.get("sni"))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"slot {slot_id}: bad endpoint {dict(data)!r}: {exc}") from None


def _slots(tx: Tx, sql: str, params: Sequence[object]) -> list[SlotRecord]:
    rows = tx.rows(sql, params)
    endpoints: dict[int, list[Endpoint]] = {}
    ids = [r[0] for r in rows]
    for start in range(0, len(ids), 500):  # below SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for ep in tx.rows("SELECT slot_id, address, port, tls, sni FROM endpoints "  # noqa: S608
                          f"WHERE slot_id IN ({marks}) ORDER BY id", chunk):
            endpoints.setdefault(ep[0], []).append(Endpoint(ep[1], ep[2], TlsMode(ep[3]), ep[4]))
    return [_slot(r, endpoints.get(r[0], [])) for r in rows]


def _slot(r: Row, endpoints: list[Endpoint]) -> SlotRecord:
    (id_, host, slot_id, kind, service_config, config, names, cert, key, chain, ca, keystore,
     keystore_type, data) = r
    return SlotRecord(host=host, slot_id=slot_id, service_kind=kind,
                      service_config=service_config, config=config,
                      names=tuple(decode_json(names)), cert=cert, key=key, chain=chain, ca=ca,
                      keystore=keystore, keystore_type=keystore_type,
                      endpoints=tuple(endpoints), data=dict(decode_json(data)), id=id_)


def _host(row: Row) -> HostRecord:
    return HostRecord(row[0], HostKind(row[1]), row[2], dict(decode_json(row[3])), row[4])
