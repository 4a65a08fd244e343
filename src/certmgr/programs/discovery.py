"""Discovery: run every registered program's adapter on a host, report services and slots.

:func:`discover_host` runs every program's adapter (its spec's ``adapter``) on a
host, in registry order (:mod:`certmgr.programs.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from certmgr.errors import ConfigError, HostError
from certmgr.hosts.base import Host
from certmgr.models import Finding
from certmgr.programs.base import DiscoveryContext, Service, ServiceAdapter, Setting, Slot
from certmgr.programs.registry import PROGRAMS, ServiceKind

__all__ = [
    "Discovery",
    "DiscoveryContext",
    "Service",
    "ServiceAdapter",
    "Setting",
    "Slot",
    "adapter_for",
    "discover_host",
]



@dataclass(frozen=True)
class Discovery:
    """Everything discovery found on one host, and the configs it could not read."""

    host: str
    services: tuple[Service, ...]
    findings: tuple[Finding, ...]

    def slots(self) -> list[tuple[Service, Slot]]:
        return [(service, slot) for service in self.services for slot in service.slots]

    def service(self, kind: ServiceKind) -> Service | None:
        return next((s for s in self.services if s.kind is kind), None)

    def with_operator_names(self, names: dict[str, tuple[str, ...]]) -> Discovery:
        """A copy where slots named in ``names`` (slot id -> names) answer to those names.

        A definition that targets a slot gives it names (``names_from``
        ``operator``) when the program's config has none of its own.
        """
        services = []
        for service in self.services:
            slots = tuple(replace(slot, names=names[slot.id], names_from="operator")
                          if slot.id in names and slot.names_from == "host" and names[slot.id]
                          else slot for slot in service.slots)
            services.append(replace(service, slots=slots))
        return replace(self, services=tuple(services))

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "services": [s.to_json() for s in self.services],
                "findings": [f.to_json() for f in self.findings]}


def adapter_for(kind: ServiceKind | str) -> ServiceAdapter:
    """The registered adapter of a service kind."""
    value = kind.value if isinstance(kind, ServiceKind) else kind
    for spec in PROGRAMS:
        if spec.name == value:
            return spec.adapter
    raise KeyError(value)


def _table_users(host: Host) -> dict[str, str]:
    """Who each program runs as, from the host's service table (hosts without systemd)."""
    from certmgr.hosts.servicetable import load_service_table

    try:
        table = load_service_table(host)
    except (HostError, ValueError):
        return {}
    return {entry.name: entry.user for entry in table} if table is not None else {}


def discover_host(host: Host, *, kinds: list[ServiceKind] | None = None) -> Discovery:
    """Run every adapter (or those of ``kinds``) on ``host``.

    A program whose configuration cannot be read is still reported when its
    main file exists (with whatever slots could be read) and its problems are
    CONFIG_ERROR findings; a failure in one program never stops the others.
    """
    ctx = DiscoveryContext(host)
    users = _table_users(host)
    services: list[Service] = []
    for spec in PROGRAMS:
        if kinds is not None and spec.kind not in kinds:
            continue
        adapter = spec.adapter
        config = adapter.detect(host)
        if config is None:
            continue
        try:
            service = adapter.discover(ctx, config)
            if adapter.name in users and users[adapter.name] != service.user:
                service = replace(service, user=users[adapter.name])
            services.append(service)
        except ConfigError as exc:
            ctx.record(adapter.kind, exc)
        except HostError as exc:
            ctx.config_error(adapter.kind, f"cannot read {adapter.name}'s setup: {exc.message}",
                             path=exc.path or config)
    return Discovery(host.name, tuple(services), tuple(ctx.findings))
