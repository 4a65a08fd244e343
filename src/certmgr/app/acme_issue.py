"""Issuing ACME definitions: orders run concurrently, failures come back as results.

The repository is used from this (the calling) thread only: plans are made here
(account keys decrypted once per issuer, audited), orders run in a thread pool
(network and challenges only), and each certificate is stored here as its order
ends. One order failing never stops the others.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.app.results import ItemResult
from certmgr.errors import CertmgrError, HostError, InputError
from certmgr.repository.records import DefinitionRecord, IssuerKind

if TYPE_CHECKING:
    from certmgr.issuers.acme import Order, Outcome
    from certmgr.issuers.acme_client import AcmeConnection
    from certmgr.repository import Repository

__all__ = ["is_acme_definition", "issue_acme"]

MAX_CONCURRENT = 10
RATE_WAIT = dt.timedelta(seconds=30)  # a rate limit this short is waited out in the same run


def is_acme_definition(repo: Repository, definition: DefinitionRecord) -> bool:
    if isinstance(definition.data.get("acme"), dict):
        return True
    try:
        return repo.get_issuer(definition.issuer or "builtin").kind is IssuerKind.ACME
    except CertmgrError:
        return False


def _host_name(definition: DefinitionRecord) -> str:
    if not definition.targets:
        return "local"
    host, sep, _slot = definition.targets[0].rpartition("/")
    return host if sep and host else "local"


def issue_acme(repo: Repository, definitions: Sequence[DefinitionRecord], *,
               root: Path | None = None, dry_run: bool = False,
               tick: Callable[[str | None], None] = lambda _n: None) -> dict[str, ItemResult]:
    """Order a certificate for each definition; return one result per definition name.

    With ``dry_run`` the orders go to each issuer's staging directory and nothing is stored.

    Raises:
        InputError: ``dry_run`` and an issuer has no staging directory (before any order).
    """
    from certmgr.issuers import acme

    results: dict[str, ItemResult] = {}
    connections: dict[str, AcmeConnection | CertmgrError] = {}
    errors: dict[str, list[str]] = {d.name: [] for d in definitions}
    pending = [(d, 0) for d in definitions]
    while pending:  # one round per issuer position: the next issuer after a failure
        orders: list[tuple[int, Order]] = []
        retry: list[tuple[DefinitionRecord, int]] = []
        for definition, index in pending:
            try:
                orders.append((index, _plan(repo, definition, _issuers(definition)[index],
                                            connections, root=root, dry_run=dry_run)))
            except CertmgrError as exc:
                if isinstance(exc, InputError) and (dry_run or len(definitions) == 1):
                    raise  # bad input for the one definition asked: exit 2, nothing ordered
                _next(repo, definition, index, exc.message, errors, retry, results)
        with concurrent.futures.ThreadPoolExecutor(max(1, min(MAX_CONCURRENT, len(orders))),
                                                   thread_name_prefix="acme") as pool:
            futures = {}
            for index, order in orders:
                if index == 0:
                    tick(order.definition.name)
                futures[pool.submit(acme.run, order)] = index
            for future in concurrent.futures.as_completed(futures):
                outcome: Outcome = future.result()
                definition = outcome.order.definition
                if outcome.retry_at is not None:
                    outcome = _rate_limited(repo, outcome)
                if outcome.error is not None:
                    if _next(repo, definition, futures[future], outcome.error, errors, retry,
                             results):
                        continue
                else:
                    results[definition.name] = _stored(repo, outcome, dry_run,
                                                       errors[definition.name])
                tick(None)
        pending = retry
    return results


def _rate_limited(repo: Repository, outcome: Outcome) -> Outcome:
    """A short rate limit is waited out and the order placed again (once); a long one is
    recorded in the definition, and no order goes to that issuer before its time."""
    from certmgr.issuers import acme

    assert outcome.retry_at is not None
    wait = outcome.retry_at - dt.datetime.now(dt.UTC)
    if wait <= RATE_WAIT:
        time.sleep(max(0.0, wait.total_seconds()))
        again = acme.run(outcome.order)
        if again.retry_at is None:
            return again
        outcome = again
    order = outcome.order
    fresh = repo.get_definition(order.definition.name)
    limits = dict(fresh.data.get("acme_limits") or {})
    assert outcome.retry_at is not None
    limits[order.issuer.name] = outcome.retry_at.isoformat()
    repo.save_definition(replace(fresh, data={**fresh.data, "acme_limits": limits}))
    return outcome


def _issuers(definition: DefinitionRecord) -> list[str]:
    from certmgr.issuers import acme

    settings = acme.acme_settings(definition) or {}
    return list(settings.get("issuers") or [definition.issuer or "builtin"])


def _next(repo: Repository, definition: DefinitionRecord, index: int, error: str,
          errors: dict[str, list[str]], retry: list[tuple[DefinitionRecord, int]],
          results: dict[str, ItemResult]) -> bool:
    """Record a failure; queue the next issuer if there is one (True), else the result."""
    issuers = _issuers(definition)
    errors[definition.name].append(error)
    if index + 1 < len(issuers):
        repo.record_event("acme.failover", f"definition:{definition.name}",
                          {"from": issuers[index], "to": issuers[index + 1], "error": error})
        retry.append((definition, index + 1))
        return True
    message = error if len(errors[definition.name]) == 1 else \
        "; ".join(errors[definition.name])
    results[definition.name] = _failed(definition.name, message)
    return False


def _plan(repo: Repository, definition: DefinitionRecord, name: str,
          connections: dict[str, AcmeConnection | CertmgrError], *, root: Path | None,
          dry_run: bool) -> Order:
    from certmgr.issuers import acme
    from certmgr.issuers.definitions import definition_names

    settings = acme.acme_settings(definition) or {}
    record = repo.get_issuer(name)
    if record.kind is not IssuerKind.ACME:
        raise InputError(f"definition {definition.name}: issuer {name} is not an ACME issuer")
    if dry_run and not record.config.get("staging_directory"):
        raise InputError(f"issue --dry-run: issuer {name} has no staging directory (add it "
                         "again with --staging-directory URL)")
    key = f"{name}{'#staging' if dry_run else ''}"
    if key not in connections:  # a CA that cannot be reached is tried once per run
        try:
            connections[key] = acme.connect(repo, record, staging=dry_run,
                                            reason=f"ACME orders from {name}")
        except CertmgrError as exc:
            connections[key] = exc
    conn = connections[key]
    if isinstance(conn, CertmgrError):
        raise conn
    host, webroots = None, None
    discover = (settings.get("challenge", "http-01") == "http-01" and bool(definition.targets)
                and "standalone_port" not in settings)
    if settings.get("webroot") or discover:
        from certmgr.deploy.sources import open_host

        host = open_host(repo, _host_name(definition), root=root)
        if not settings.get("webroot"):
            webroots = served_by(host, definition_names(definition))
    return acme.plan(repo, definition, record, conn.take(), host=host, dry_run=dry_run,
                     webroots=webroots)


def served_by(host: Any, names: Sequence[str]) -> dict[str, str]:
    """Name -> document root of the web server (Apache, nginx, Tomcat; through haproxy in
    front of one) answering it on port 80 of ``host``, from a fresh discovery; names no
    web server answers are left out.

    A server naming the name wins over a port's default; where the host has a service
    table (hosts without systemd, lab hosts), only the programs it runs count, as a
    program's configuration can be installed without the program running.
    """
    from certmgr.hosts.servicetable import load_service_table
    from certmgr.programs import discover_host
    from certmgr.programs.base import web_root_for
    from certmgr.programs.registry import ServiceKind

    found = discover_host(host, kinds=[ServiceKind.APACHE2, ServiceKind.NGINX,
                                       ServiceKind.TOMCAT, ServiceKind.HAPROXY])
    try:
        table = load_service_table(host)
    except (HostError, ValueError):
        table = None
    running = {entry.name for entry in table} if table is not None else None
    roots = [r for service in found.services for r in service.webroots
             if running is None or service.kind.value in running]
    out: dict[str, str] = {}
    for name in names:
        root = web_root_for(roots, name)
        if root is not None:
            out[name] = root.root
    return out


def _failed(name: str, message: str) -> ItemResult:
    return ItemResult(name, "failed", ok=False, reason=message,
                      detail={"definition": name, "message": message})


def _stored(repo: Repository, outcome: Outcome, dry_run: bool,
            failovers: list[str]) -> ItemResult:
    from certmgr.issuers import acme

    name = outcome.order.definition.name
    if outcome.error is not None or outcome.certificate is None:
        return _failed(name, outcome.error or "no certificate")
    detail: dict[str, Any] = {"definition": name, "issuer": outcome.order.issuer.name,
                              "profile": outcome.order.profile,
                              "replaces": outcome.replaced}
    if failovers:  # earlier issuers failed: the event is kept in the result and the audit
        detail["failover"] = list(failovers)
    if dry_run:
        detail.update(serial=format(outcome.certificate.serial_number, "x"),
                      not_after=outcome.certificate.not_valid_after_utc.isoformat())
        return ItemResult(name, "dry-run", reason="staging certificate not stored",
                          detail=detail)
    try:
        record = acme.store(repo, outcome)
    except CertmgrError as exc:
        return _failed(name, exc.message)
    detail.update(version=record.version, serial=record.serial,
                  not_after=record.not_after.isoformat())
    if outcome.window is not None:
        detail.update(ari_window=[outcome.window.start.isoformat(),
                                  outcome.window.end.isoformat()],
                      explanation_url=outcome.window.explanation)
    return ItemResult(name, "issued", detail=detail)
