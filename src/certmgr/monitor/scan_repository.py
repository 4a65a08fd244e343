"""What the repository expects endpoints to serve, and observations to store.

:func:`repository_expectations` indexes, once per scan, every endpoint of
every discovered slot with the certificate last deployed (and verified) to
that slot, so the checks can report DRIFT and judge names without a query
per endpoint. :func:`observation_record` turns a scan result into the
repository's observation record (``monitor`` stores them).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from certmgr.errors import NotFound
from certmgr.monitor.scan import Expectation, ExpectationLookup, ScanResult
from certmgr.probe.targets import Target

if TYPE_CHECKING:
    from certmgr.repository import (
        CertificateRecord,
        DefinitionRecord,
        DeploymentRecord,
        HostRecord,
        ObservationRecord,
        Repository,
        SlotRecord,
    )

__all__ = [
    "DeploymentReader",
    "deployed_leaf",
    "host_addresses",
    "observation_record",
    "repository_expectations",
    "slot_names",
]

log = logging.getLogger(__name__)

_WILDCARDS = ("*", "", "0.0.0.0", "::", "[::]")  # noqa: S104 - listen wildcards, not binds


def host_addresses(host: HostRecord) -> set[str]:
    """Where a host's wildcard listeners can be reached from here."""
    out: set[str] = set()
    address = host.address or ""
    if address:
        # ssh addresses are user@host:port; lab and plain hosts give an address or name.
        hostpart = address.rsplit("@", 1)[-1]
        if hostpart.startswith("["):
            hostpart = hostpart[1:].split("]", 1)[0]
        elif hostpart.count(":") == 1:
            hostpart = hostpart.split(":", 1)[0]
        out.add(hostpart)
    kind = getattr(host.kind, "value", host.kind)
    if kind == "local":
        out.update({"127.0.0.1", "::1", "localhost"})
    return out


class DeploymentReader(Protocol):
    """The part of the repository that says what a slot should serve."""

    def deployment_history(self, target: str, *, limit: int = 50) -> list[DeploymentRecord]: ...
    def get_certificate(self, definition: str, version: int) -> CertificateRecord: ...
    def get_definition(self, name: str) -> DefinitionRecord: ...


def deployed_leaf(repo: DeploymentReader, slot: SlotRecord
                  ) -> tuple[str | None, str | None, int | None]:
    """(sha256, definition, version) of the last verified deployment to the slot."""
    for deployment in repo.deployment_history(slot.target, limit=20):
        if getattr(deployment.state, "value", deployment.state) != "verified":
            continue
        try:
            cert = repo.get_certificate(deployment.definition, deployment.version)
        except NotFound:
            log.debug("deployment %s names a missing certificate", deployment.id)
            continue
        return cert.sha256, deployment.definition, deployment.version
    return None, None, None


def slot_names(repo: DeploymentReader, slot: SlotRecord, definition: str | None
                ) -> tuple[str, ...]:
    """The names a slot must answer to: its program's own (ServerName...), else those
    of the definition deployed to it (an operator's choice), else the host's name."""
    if slot.data.get("names_from") == "host" and definition is not None:
        try:
            d = repo.get_definition(definition)
        except NotFound:
            return tuple(slot.names)
        return tuple(dict.fromkeys((d.cn, *d.sans)))
    return tuple(slot.names)


def _endpoint_keys(slot: SlotRecord, hosts: dict[str, HostRecord]
                   ) -> Iterable[tuple[str, int, str | None]]:
    host = hosts.get(slot.host)
    for endpoint in slot.endpoints:
        if endpoint.address in _WILDCARDS:
            for address in host_addresses(host) if host is not None else ():
                yield address, endpoint.port, endpoint.sni
        else:
            yield endpoint.address.strip("[]"), endpoint.port, endpoint.sni


def repository_expectations(repo: Repository) -> ExpectationLookup:
    """A lookup of what each known endpoint should serve (built once, queried per target).

    Endpoints the repository does not know give None: they are unmanaged and
    get no DRIFT check. A known endpoint with nothing deployed yet gets the
    slot's names and service but no fingerprint.
    """
    hosts = {h.name: h for h in repo.list_hosts()}
    by_name: dict[tuple[str, int, str | None], Expectation] = {}
    index: dict[tuple[str, int], Expectation] = {}
    for slot in repo.list_slots():
        sha, definition, version = deployed_leaf(repo, slot)
        expected = Expectation(leaf_sha256=sha, definition=definition, version=version,
                               slot=slot.target, service=slot.service_kind,
                               names=slot_names(repo, slot, definition))
        for address, port, sni in _endpoint_keys(slot, hosts):
            by_name.setdefault((address, port, sni), expected)
            # SNI vhosts share an address:port; without a name the deployed one answers.
            known = index.get((address, port))
            if known is None or (sha is not None and known.leaf_sha256 is None):
                index[address, port] = expected

    def lookup(target: Target) -> Expectation | None:
        if target.sni is not None:
            found = by_name.get((target.host, target.port, target.sni))
            if found is not None:
                return found
        return index.get((target.host, target.port))

    return lookup


def observation_record(result: ScanResult, *, host: str | None = None) -> ObservationRecord:
    """The repository's record of what ``result``'s endpoint served (for ``monitor``)."""
    from certmgr.repository import ObservationRecord

    probe = result.probe
    leaf = result.chain[0] if result.chain else None
    not_after = dt.datetime.fromisoformat(leaf["not_after"]) if leaf and leaf["not_after"] else None
    return ObservationRecord(
        address=probe.target.host, port=probe.target.port, tls=probe.target.tls.value,
        time=dt.datetime.fromtimestamp(probe.observed_at, dt.UTC), ok=probe.ok, host=host,
        sni=probe.target.sni, error=probe.error,
        chain_sha256=tuple(entry["sha256"] for entry in result.chain),
        leaf_sha256=probe.leaf_sha256, not_after=not_after,
        findings=tuple(f.to_json() for f in result.findings))
