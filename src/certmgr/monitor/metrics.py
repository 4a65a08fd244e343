"""Prometheus metrics of the monitor: per endpoint and per certificate, served on loopback.

After each pass the scheduler calls :meth:`MonitorMetrics.update` with what it
saw; a scrape renders the latest snapshot, computing the days left at scrape
time. Nothing is dropped for being bad: an expired, untrusted or mismatched
certificate keeps its ``not_after`` and ``days_left`` (negative once expired),
and an endpoint whose probe fails keeps the certificate it served last, next
to ``probe_success 0`` (blackbox_exporter drops the expiry metric exactly when
it matters most).

Metric names (all gauges)::

    certmgr_endpoint_probe_success{host,target}             1 probe completed, 0 failed
    certmgr_endpoint_probe_timestamp_seconds{host,target}   when it was probed
    certmgr_endpoint_cert_not_after_timestamp_seconds{host,target}
    certmgr_endpoint_cert_days_left{host,target}
    certmgr_endpoint_cert_valid{host,target}                1 no error finding on the chain
    certmgr_endpoint_drift{host,target}                     1 serves another cert than deployed
    certmgr_endpoint_cert_info{host,target,serial,sha256,definition}  1
    certmgr_certificate_not_after_timestamp_seconds{definition}
    certmgr_certificate_days_left{definition}
    certmgr_certificate_renew_at_timestamp_seconds{definition}
    certmgr_certificate_info{definition,version,serial}      1
    certmgr_certificate_last_renewal_success{definition}     1 ok, 0 failed (after an attempt)
    certmgr_certificate_last_renewal_timestamp_seconds{definition}
    certmgr_certificate_renewal_failures{definition}         consecutive failed attempts
    certmgr_monitor_last_pass_timestamp_seconds
    certmgr_monitor_pass_duration_seconds
    certmgr_monitor_notices_failed                           deliveries that failed last pass
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily

from certmgr import redact
from certmgr.errors import UsageError
from certmgr.monitor.settings import parse_listen

__all__ = [
    "CertificateStatus",
    "EndpointStatus",
    "MetricsServer",
    "MonitorMetrics",
]

_DAY = 86400.0


@dataclass(frozen=True)
class EndpointStatus:
    """What one endpoint served at the last probe.

    ``drift`` and ``valid`` are None when unknown (nothing deployed there to
    compare with; no chain to judge).
    """

    host: str
    target: str
    probe_ok: bool
    checked_at: datetime
    error: str | None = None
    serial: str | None = None
    sha256: str | None = None
    not_after: datetime | None = None
    valid: bool | None = None
    drift: bool | None = None
    definition: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.host, self.target


@dataclass(frozen=True)
class CertificateStatus:
    """The current certificate of one definition and its renewal record."""

    definition: str
    version: int | None = None
    serial: str | None = None
    not_after: datetime | None = None
    renew_at: datetime | None = None
    last_renewal_ok: bool | None = None
    last_renewal_at: datetime | None = None
    renewal_failures: int = 0


@dataclass(frozen=True)
class _Pass:
    at: datetime
    duration: float
    notices_failed: int


class MonitorMetrics:
    """The latest snapshot, rendered on demand as Prometheus gauges (thread-safe).

    Args:
        clock: seconds since the epoch at scrape time, for ``days_left``.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._endpoints: dict[tuple[str, str], EndpointStatus] = {}
        self._certificates: dict[str, CertificateStatus] = {}
        self._pass: _Pass | None = None
        self.registry.register(self)

    def update(self, endpoints: Iterable[EndpointStatus],
               certificates: Iterable[CertificateStatus], *,
               at: datetime | None = None, duration: float = 0.0,
               notices_failed: int = 0) -> None:
        """Replace the snapshot with one pass's results.

        An endpoint whose probe failed keeps the certificate seen at its last
        successful probe; endpoints and definitions no longer in the repository
        disappear.
        """
        with self._lock:
            fresh = {}
            for status in endpoints:
                old = self._endpoints.get(status.key)
                if not status.probe_ok and status.not_after is None and old is not None:
                    status = dataclasses.replace(
                        status, serial=old.serial, sha256=old.sha256, not_after=old.not_after,
                        valid=old.valid, drift=old.drift, definition=old.definition)
                fresh[status.key] = status
            self._endpoints = fresh
            self._certificates = {c.definition: c for c in certificates}
            if at is not None:
                self._pass = _Pass(at, duration, notices_failed)

    def notices_failed(self, count: int) -> None:
        """Set how many notices of the latest batch failed (they are told beside the passes)."""
        with self._lock:
            if self._pass is not None:
                self._pass = dataclasses.replace(self._pass, notices_failed=count)

    def render(self) -> bytes:
        """The exposition text a scrape gets (secrets redacted, like every output)."""
        return redact.text(generate_latest(self.registry).decode()).encode()

    # -- the prometheus_client collector protocol ----------------------------------

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            endpoints = sorted(self._endpoints.values(), key=lambda e: e.key)
            certificates = sorted(self._certificates.values(), key=lambda c: c.definition)
            last = self._pass
        now = self.clock()
        yield from _endpoint_families(endpoints, now)
        yield from _certificate_families(certificates, now)
        yield from _pass_families(last)

    def describe(self) -> list[Any]:
        return []  # families vary with the repository; nothing to check at register time


def _gauge(name: str, doc: str, labels: Sequence[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _endpoint_families(endpoints: Sequence[EndpointStatus],
                       now: float) -> Iterator[GaugeMetricFamily]:
    labels = ("host", "target")
    success = _gauge("certmgr_endpoint_probe_success",
                     "1 if the last probe connected, started TLS and got the chain", labels)
    stamp = _gauge("certmgr_endpoint_probe_timestamp_seconds", "When the endpoint was probed",
                   labels)
    not_after = _gauge("certmgr_endpoint_cert_not_after_timestamp_seconds",
                       "notAfter of the leaf the endpoint served (last seen)", labels)
    days = _gauge("certmgr_endpoint_cert_days_left",
                  "Days until the served leaf expires (negative once expired)", labels)
    valid = _gauge("certmgr_endpoint_cert_valid",
                   "1 if the served chain had no error finding (trust, names, expiry, key)",
                   labels)
    drift = _gauge("certmgr_endpoint_drift",
                   "1 if the endpoint serves another certificate than certmgr deployed", labels)
    info = _gauge("certmgr_endpoint_cert_info", "The leaf the endpoint served (last seen)",
                  (*labels, "serial", "sha256", "definition"))
    for e in endpoints:
        key = list(e.key)
        success.add_metric(key, 1.0 if e.probe_ok else 0.0)
        stamp.add_metric(key, e.checked_at.timestamp())
        if e.not_after is not None:
            not_after.add_metric(key, e.not_after.timestamp())
            days.add_metric(key, (e.not_after.timestamp() - now) / _DAY)
        if e.valid is not None:
            valid.add_metric(key, 1.0 if e.valid else 0.0)
        if e.drift is not None:
            drift.add_metric(key, 1.0 if e.drift else 0.0)
        if e.sha256 is not None:
            info.add_metric([*key, e.serial or "", e.sha256, e.definition or ""], 1.0)
    yield from (success, stamp, not_after, days, valid, drift, info)


def _certificate_families(certificates: Sequence[CertificateStatus],
                          now: float) -> Iterator[GaugeMetricFamily]:
    labels = ("definition",)
    not_after = _gauge("certmgr_certificate_not_after_timestamp_seconds",
                       "notAfter of the definition's current certificate", labels)
    days = _gauge("certmgr_certificate_days_left",
                  "Days until the current certificate expires (negative once expired)", labels)
    renew_at = _gauge("certmgr_certificate_renew_at_timestamp_seconds",
                      "When the renewal window of the current certificate opens", labels)
    info = _gauge("certmgr_certificate_info", "The definition's current certificate",
                  (*labels, "version", "serial"))
    ok = _gauge("certmgr_certificate_last_renewal_success",
                "1 if the last renewal attempt succeeded, 0 if it failed", labels)
    ok_at = _gauge("certmgr_certificate_last_renewal_timestamp_seconds",
                   "When renewal was last attempted", labels)
    failures = _gauge("certmgr_certificate_renewal_failures",
                      "Consecutive failed renewal attempts", labels)
    for c in certificates:
        key = [c.definition]
        if c.not_after is not None:
            not_after.add_metric(key, c.not_after.timestamp())
            days.add_metric(key, (c.not_after.timestamp() - now) / _DAY)
        if c.renew_at is not None:
            renew_at.add_metric(key, c.renew_at.timestamp())
        if c.serial is not None:
            info.add_metric([*key, str(c.version or ""), c.serial], 1.0)
        if c.last_renewal_ok is not None:
            ok.add_metric(key, 1.0 if c.last_renewal_ok else 0.0)
        if c.last_renewal_at is not None:
            ok_at.add_metric(key, c.last_renewal_at.timestamp())
        failures.add_metric(key, float(c.renewal_failures))
    yield from (not_after, days, renew_at, info, ok, ok_at, failures)


def _pass_families(last: _Pass | None) -> Iterator[GaugeMetricFamily]:
    if last is None:
        return
    yield GaugeMetricFamily("certmgr_monitor_last_pass_timestamp_seconds",
                            "When the last monitor pass ended", value=last.at.timestamp())
    yield GaugeMetricFamily("certmgr_monitor_pass_duration_seconds",
                            "How long the last monitor pass took", value=last.duration)
    yield GaugeMetricFamily("certmgr_monitor_notices_failed",
                            "Notices that could not be delivered in the last pass",
                            value=float(last.notices_failed))


class MetricsServer:
    """``/metrics`` over HTTP on a loopback address, in a daemon thread.

    Args:
        metrics: what to serve.
        listen: ``ADDRESS:PORT`` (loopback only; port 0 picks a free one).

    Raises:
        UsageError: the address is not loopback or cannot be bound.
    """

    def __init__(self, metrics: MonitorMetrics, listen: str) -> None:
        address, port = parse_listen(listen)
        try:
            self._server, self._thread = start_http_server(port, address,
                                                           registry=metrics.registry)
        except OSError as exc:
            raise UsageError(f"metrics listen address {listen}: cannot listen "
                             f"({exc.strerror}); pick a free port") from None
        self.address = address
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
