"""The /metrics endpoint, scraped over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certmgr.errors import UsageError
from certmgr.monitor.metrics import (
    CertificateStatus,
    EndpointStatus,
    MetricsServer,
    MonitorMetrics,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our http URL
        assert response.status == 200
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def ep(target: str) -> tuple[tuple[str, str], ...]:
    return (("host", "lab1"), ("target", target))


def defn(name: str) -> tuple[tuple[str, str], ...]:
    return (("definition", name),)


@pytest.fixture
def metrics() -> Iterator[tuple[MonitorMetrics, MetricsServer]]:
    m = MonitorMetrics(clock=NOW.timestamp)
    with MetricsServer(m, "127.0.0.1:0") as server:
        yield m, server


def test_endpoints_and_certificates_are_scraped(
        metrics: tuple[MonitorMetrics, MetricsServer]) -> None:
    m, server = metrics
    m.update(
        [EndpointStatus("lab1", "198.18.0.2:443", True, NOW, serial="0a", sha256="ab" * 32,
                        not_after=NOW + timedelta(days=10), valid=True, drift=False,
                        definition="www"),
         # expired and untrusted: its numbers stay, negative days included
         EndpointStatus("lab1", "198.18.0.2:25/smtp", True, NOW, serial="0b", sha256="cd" * 32,
                        not_after=NOW - timedelta(days=2), valid=False, drift=True)],
        [CertificateStatus("www", 3, "0a", NOW + timedelta(days=10), NOW + timedelta(days=5),
                           last_renewal_ok=False, last_renewal_at=NOW, renewal_failures=2)],
        at=NOW, duration=1.5, notices_failed=1)
    got = scrape(server.url)
    assert got[("certmgr_endpoint_probe_success", ep("198.18.0.2:443"))] == 1
    assert got[("certmgr_endpoint_cert_days_left", ep("198.18.0.2:443"))] == 10
    assert got[("certmgr_endpoint_cert_days_left", ep("198.18.0.2:25/smtp"))] == -2
    assert got[("certmgr_endpoint_cert_not_after_timestamp_seconds", ep("198.18.0.2:25/smtp"))] \
        == (NOW - timedelta(days=2)).timestamp()
    assert got[("certmgr_endpoint_cert_valid", ep("198.18.0.2:25/smtp"))] == 0
    assert got[("certmgr_endpoint_drift", ep("198.18.0.2:25/smtp"))] == 1
    assert got[("certmgr_endpoint_drift", ep("198.18.0.2:443"))] == 0
    info = (("definition", "www"), ("host", "lab1"), ("serial", "0a"), ("sha256", "ab" * 32),
            ("target", "198.18.0.2:443"))
    assert got[("certmgr_endpoint_cert_info", info)] == 1
    assert got[("certmgr_certificate_days_left", defn("www"))] == 10
    assert got[("certmgr_certificate_renew_at_timestamp_seconds", defn("www"))] == \
        (NOW + timedelta(days=5)).timestamp()
    assert got[("certmgr_certificate_last_renewal_success", defn("www"))] == 0
    assert got[("certmgr_certificate_renewal_failures", defn("www"))] == 2
    assert got[("certmgr_certificate_info", (("definition", "www"), ("serial", "0a"),
                                             ("version", "3")))] == 1
    assert got[("certmgr_monitor_pass_duration_seconds", ())] == 1.5
    assert got[("certmgr_monitor_notices_failed", ())] == 1


def test_failed_probe_keeps_the_last_certificate(
        metrics: tuple[MonitorMetrics, MetricsServer]) -> None:
    m, server = metrics
    seen = EndpointStatus("lab1", "198.18.0.2:993/imap", True, NOW, serial="0c",
                          sha256="ef" * 32, not_after=NOW - timedelta(hours=12), valid=False)
    m.update([seen], [])
    m.update([EndpointStatus("lab1", "198.18.0.2:993/imap", False, NOW + timedelta(minutes=5),
                             error="HANDSHAKE_FAILED")], [])
    got = scrape(server.url)
    assert got[("certmgr_endpoint_probe_success", ep("198.18.0.2:993/imap"))] == 0
    assert got[("certmgr_endpoint_cert_days_left", ep("198.18.0.2:993/imap"))] == -0.5
    assert got[("certmgr_endpoint_probe_timestamp_seconds", ep("198.18.0.2:993/imap"))] == \
        (NOW + timedelta(minutes=5)).timestamp()


def test_removed_endpoints_disappear(metrics: tuple[MonitorMetrics, MetricsServer]) -> None:
    m, server = metrics
    m.update([EndpointStatus("lab1", "198.18.0.2:443", True, NOW)], [CertificateStatus("www")])
    m.update([], [])
    names = {name for name, _ in scrape(server.url)}
    assert not any(n.startswith(("certmgr_endpoint", "certmgr_certificate")) for n in names)


def test_days_left_is_computed_at_scrape_time() -> None:
    clock = [NOW.timestamp()]
    m = MonitorMetrics(clock=lambda: clock[0])
    m.update([], [CertificateStatus("www", 1, "01", NOW + timedelta(days=1))])
    clock[0] += 86400 * 3
    families = {f.name: f for f in text_string_to_metric_families(m.render().decode())}
    assert families["certmgr_certificate_days_left"].samples[0].value == -2


def test_only_loopback_and_free_ports() -> None:
    m = MonitorMetrics()
    with pytest.raises(UsageError, match="only loopback"):
        MetricsServer(m, "0.0.0.0:9464")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UsageError, match="cannot listen"):
            MetricsServer(m, f"127.0.0.1:{port}")
