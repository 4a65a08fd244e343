"""What the monitor watches: every endpoint in the repository, and what each should serve.

Endpoints come from the discovered slots (``repo.list_slots()``); the address
probed is the endpoint's own listen address, or the host's address when the
program listens on a wildcard. What an endpoint *should* serve is the
certificate of the last verified deployment to its slot, which makes a
different served leaf a DRIFT finding (decided by
:class:`certmgr.monitor.scan.Checker`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from certmgr.monitor.scan import Expectation
from certmgr.monitor.scan_repository import DeploymentReader, deployed_leaf, slot_names
from certmgr.probe.targets import Target
from certmgr.repository.records import (
    HostKind,
    HostRecord,
    SlotRecord,
)

__all__ = ["EndpointRepository", "Watched", "probe_address", "watched_endpoints"]


class EndpointRepository(DeploymentReader, Protocol):
    """The part of the repository the endpoint list reads."""

    def list_hosts(self) -> list[HostRecord]: ...
    def list_slots(self, host_name: str | None = None, *,
                   service_kind: str | None = None) -> list[SlotRecord]: ...


@dataclass(frozen=True)
class Watched:
    """One endpoint to probe on each pass.

    Attributes:
        host: the repository host it belongs to.
        target: what to connect to (address, port, TLS mode, SNI).
        slots: the ``HOST/SLOT-ID`` slots served there.
        expectation: what it should serve (names always; a leaf once deployed).
    """

    host: str
    target: Target
    slots: tuple[str, ...]
    expectation: Expectation | None

    @property
    def label(self) -> str:
        return f"{self.host} {self.target}"


_SSH = re.compile(r"(?:ssh://)?(?:[^@/]+@)?(\[[^\]]+\]|[^:/]+)(?::\d+)?/?")


def probe_address(host: HostRecord | None) -> str | None:
    """Where the host's endpoints answer: its address without user and SSH port.

    ``ssh`` hosts store ``user@host:port``; lab and local hosts store an IP
    address or nothing (then wildcard listeners are probed on 127.0.0.1).
    """
    if host is None or not host.address:
        return None
    address = host.address.strip()
    if host.kind is HostKind.SSH:
        match = _SSH.fullmatch(address)
        return match.group(1).strip("[]") if match else None
    return address.strip("[]")


def watched_endpoints(repo: EndpointRepository) -> list[Watched]:
    """Every distinct endpoint of every slot, with what it should serve."""
    hosts = {h.name: h for h in repo.list_hosts()}
    found: dict[tuple[str, Target], list[tuple[SlotRecord, Expectation]]] = {}
    for slot in repo.list_slots():
        leaf, definition, version = deployed_leaf(repo, slot)
        expectation = Expectation(leaf, definition, version, slot.target, slot.service_kind,
                                  slot_names(repo, slot, definition))
        address = probe_address(hosts.get(slot.host))
        for endpoint in slot.endpoints:
            target = Target.from_endpoint(endpoint, address)
            found.setdefault((slot.host, target), []).append((slot, expectation))
    return [Watched(host, target, tuple(s.target for s, _ in pairs), _merge(pairs))
            for (host, target), pairs in sorted(found.items(), key=lambda kv: (
                kv[0][0], kv[0][1].host, kv[0][1].port, kv[0][1].tls.value, kv[0][1].sni or ""))]


def _merge(pairs: Sequence[tuple[SlotRecord, Expectation]]) -> Expectation | None:
    # Several slots on one endpoint and no SNI to tell them apart: the one certmgr
    # deployed to is what the endpoint must serve.
    deployed = [e for _, e in pairs if e.leaf_sha256]
    if len({e.leaf_sha256 for e in deployed}) > 1:
        return None  # two different certificates deployed to one endpoint: cannot judge
    return deployed[0] if deployed else pairs[0][1]
