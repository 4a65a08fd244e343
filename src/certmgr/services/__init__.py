"""Service adapters: read each server program's configuration, report services and slots.

:data:`ADAPTERS` is the registry: one adapter per program, in the order
``discover`` reports them. :func:`discover_host` runs them all on a host.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from certmgr.errors import ConfigError, HostError
from certmgr.hosts.base import Host
from certmgr.models import Finding, ServiceKind
from certmgr.services.apache2 import Apache2Adapter
from certmgr.services.base import DiscoveryContext, Service, ServiceAdapter, Setting, Slot
from certmgr.services.dovecot import DovecotAdapter
from certmgr.services.haproxy import HaproxyAdapter
from certmgr.services.nginx import NginxAdapter
from certmgr.services.postfix import PostfixAdapter
from certmgr.services.slapd import SlapdAdapter
from certmgr.services.tomcat import TomcatAdapter
from certmgr.services.vsftpd import VsftpdAdapter

__all__ = [
    "ADAPTERS",
    "Discovery",
    "DiscoveryContext",
    "Service",
    "ServiceAdapter",
    "Setting",
    "Slot",
    "adapter_for",
    "discover_host",
]

ADAPTERS: list[ServiceAdapter] = [
    SlapdAdapter(),
    Apache2Adapter(),
    VsftpdAdapter(),
    PostfixAdapter(),
    DovecotAdapter(),
    TomcatAdapter(),
    NginxAdapter(),
    HaproxyAdapter(),
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
    for adapter in ADAPTERS:
        if adapter.name == value:
            return adapter
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
    for adapter in ADAPTERS:
        if kinds is not None and adapter.kind not in kinds:
            continue
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
