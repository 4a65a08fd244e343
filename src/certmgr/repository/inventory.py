"""Hosts and what discovery found on them: services, slots, endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certmgr.errors import InputError, NotFound
from certmgr.models import Endpoint, TlsMode
from certmgr.repository.core import RepositoryCore
from certmgr.repository.records import HostKind, HostRecord, ServiceRecord, SlotRecord
from certmgr.repository.tables import EndpointRow, HostRow, ServiceRow, SlotRow, utcnow

__all__ = ["Inventory"]

LOCAL = "local"
_SLOT_PATHS = ("cert", "key", "chain", "ca", "keystore", "keystore_type")


class Inventory(RepositoryCore):
    """Hosts, services, slots and endpoints."""

    # -- hosts -----------------------------------------------------------------------

    def upsert_host(self, name: str, kind: HostKind | str = HostKind.LOCAL,
                    address: str | None = None,
                    params: Mapping[str, Any] | None = None) -> HostRecord:
        """Create or update host ``name``."""
        kind = HostKind(kind)
        with self._tx() as s:
            row = self._host_row(s, name, create=True, kind=kind)
            row.kind, row.address, row.params = kind.value, address, dict(params or {})
            row.updated = utcnow()
            s.flush()
            return _host(row)

    def get_host(self, name: str) -> HostRecord:
        """Host ``name``.  Raises NotFound."""
        with self._tx() as s:
            return _host(self._host_row(s, name))

    def list_hosts(self) -> list[HostRecord]:
        with self._tx() as s:
            return [_host(r) for r in s.scalars(select(HostRow).order_by(HostRow.name))]

    def delete_host(self, name: str) -> None:
        """Remove host ``name`` and everything discovered on it.  Raises NotFound."""
        with self._tx() as s:
            s.delete(self._host_row(s, name))
            self._audit(s, "host.delete", f"host:{name}", {})

    def _host_row(self, s: Session, name: str, *, create: bool = False,
                  kind: HostKind = HostKind.LOCAL) -> HostRow:
        row = s.scalar(select(HostRow).where(HostRow.name == name))
        if row is not None:
            return row
        if not create:
            raise NotFound(f"no host {name!r} in the repository; add it or run discover first")
        now = utcnow()
        row = HostRow(name=name, kind=kind.value, address=None, params={}, created=now,
                      updated=now)
        s.add(row)
        s.flush()
        return row

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
        with self._tx() as s:
            host = self._host_row(s, host_name, create=True)
            s.execute(delete(ServiceRow).where(ServiceRow.host_id == host.id))
            count = 0
            for service in services:
                count += _save_service(s, host.id, service)
            host.updated = utcnow()
            self._audit(s, "discovery.save", f"host:{host_name}",
                        {"services": len(services), "slots": count})
            return count

    def list_services(self, host_name: str | None = None) -> list[ServiceRecord]:
        query = (select(ServiceRow, HostRow.name).join(HostRow, ServiceRow.host_id == HostRow.id)
                 .order_by(HostRow.name, ServiceRow.kind, ServiceRow.config))
        if host_name is not None:
            query = query.where(HostRow.name == host_name)
        with self._tx() as s:
            return [ServiceRecord(name, r.kind, r.config, r.user, dict(r.data), r.id)
                    for r, name in s.execute(query)]

    def list_slots(self, host_name: str | None = None, *,
                   service_kind: str | None = None) -> list[SlotRecord]:
        """Slots with their endpoints, by host then slot id."""
        query = _slot_query()
        if host_name is not None:
            query = query.where(HostRow.name == host_name)
        if service_kind is not None:
            query = query.where(ServiceRow.kind == service_kind)
        with self._tx() as s:
            return _slots(s, query)

    def get_slot(self, target: str) -> SlotRecord:
        """The slot named ``[HOST/]SLOT-ID`` (bare: host ``local``).  Raises NotFound."""
        host, slot_id = split_target(target)
        query = _slot_query().where(HostRow.name == host, SlotRow.slot_id == slot_id)
        with self._tx() as s:
            found = _slots(s, query)
        if not found:
            raise NotFound(f"no slot {slot_id!r} on host {host!r}; run `certmgr discover` "
                           "to find the slots")
        return found[0]

    def find_slots_by_endpoint(self, address: str, port: int) -> list[SlotRecord]:
        """Slots served on ``address:port`` (``*`` listens match any address)."""
        ids = (select(EndpointRow.slot_id)
               .where(EndpointRow.port == port, EndpointRow.address.in_([address, "*"])))
        with self._tx() as s:
            return _slots(s, _slot_query().where(SlotRow.id.in_(ids)))


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


def _save_service(s: Session, host_id: int, service: Mapping[str, Any]) -> int:
    try:
        kind, config = str(service["kind"]), str(service["config"])
    except KeyError as exc:
        raise InputError(f"discovery entry without {exc.args[0]!r}: {dict(service)!r:.120}") \
            from None
    extra = {k: v for k, v in service.items() if k not in ("kind", "config", "user", "slots")}
    row = ServiceRow(host_id=host_id, kind=kind, config=config, user=service.get("user"),
                     data=extra)
    s.add(row)
    s.flush()
    slots = service.get("slots") or []
    for slot in slots:
        _save_slot(s, host_id, row.id, slot)
    return len(slots)


def _save_slot(s: Session, host_id: int, service_id: int, slot: Mapping[str, Any]) -> None:
    if not slot.get("id"):
        raise InputError(f"discovered slot without an id: {dict(slot)!r:.120}")
    known = {"id", "config", "names", "endpoints", *_SLOT_PATHS}
    row = SlotRow(host_id=host_id, service_id=service_id, slot_id=str(slot["id"]),
                  config=slot.get("config"), names=list(slot.get("names") or []),
                  data={k: v for k, v in slot.items() if k not in known},
                  **{k: slot.get(k) for k in _SLOT_PATHS})
    s.add(row)
    s.flush()
    for ep in slot.get("endpoints") or []:
        endpoint = _endpoint(ep, row.slot_id)
        s.add(EndpointRow(slot_id=row.id, address=endpoint.address, port=endpoint.port,
                          tls=endpoint.tls.value, sni=endpoint.sni))


def _endpoint(data: Mapping[str, Any], slot_id: str) -> Endpoint:
    try:
        return Endpoint(str(data["address"]), int(data["port"]),
                        TlsMode(data.get("tls") or "direct"), data.get("sni"))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(f"slot {slot_id}: bad endpoint {dict(data)!r}: {exc}") from None


def _slot_query() -> Any:
    return (select(SlotRow, HostRow.name, ServiceRow.kind, ServiceRow.config)
            .join(HostRow, SlotRow.host_id == HostRow.id)
            .join(ServiceRow, SlotRow.service_id == ServiceRow.id)
            .order_by(HostRow.name, SlotRow.slot_id))


def _slots(s: Session, query: Any) -> list[SlotRecord]:
    rows = s.execute(query).all()
    endpoints: dict[int, list[Endpoint]] = {}
    if rows:
        ids = [r[0].id for r in rows]
        for ep in s.scalars(select(EndpointRow).where(EndpointRow.slot_id.in_(ids))
                            .order_by(EndpointRow.id)):
            endpoints.setdefault(ep.slot_id, []).append(
                Endpoint(ep.address, ep.port, TlsMode(ep.tls), ep.sni))
    return [SlotRecord(host=host, slot_id=r.slot_id, service_kind=kind, service_config=config,
                       config=r.config, names=tuple(r.names), cert=r.cert, key=r.key,
                       chain=r.chain, ca=r.ca, keystore=r.keystore,
                       keystore_type=r.keystore_type,
                       endpoints=tuple(endpoints.get(r.id, ())), data=dict(r.data), id=r.id)
            for r, host, kind, config in rows]


def _host(row: HostRow) -> HostRecord:
    return HostRecord(row.name, HostKind(row.kind), row.address, dict(row.params), row.id)
