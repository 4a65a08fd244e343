"""Monitor passes over a real repository, a real TLS endpoint on 127.0.0.1 and a webhook."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certmgr.issuers.definitions import make_definition
from certmgr.issuers.store import ca_certificates, init_builtin_ca
from certmgr.monitor.metrics import MonitorMetrics
from certmgr.monitor.notify import EventKind, NoticeBoard, WebhookNotifier, utcnow
from certmgr.monitor.renewal import DeployOutcome, Renewer, RetryPolicy, issue_with_issuer
from certmgr.monitor.scheduler import Monitor, PassReport
from certmgr.monitor.settings import MonitorSettings, RetrySettings, WebhookChannel
from certmgr.monitor.state import StateFile
from certmgr.repository import (
    CertificateRecord,
    DefinitionRecord,
    DeploymentState,
    Repository,
    open_repository,
)
from certmgr.testing.notify_servers import WebhookReceiver
from certmgr.testing.tls_endpoint import TlsEndpoint, server_context

SLOT = "local/nginx-www"


def context_for(repo: Repository, cert: CertificateRecord):  # type: ignore[no-untyped-def]
    assert cert.key_ref is not None
    key = repo.load_private_key(cert.key_ref, reason="test endpoint")
    return server_context((cert.cert_pem + cert.chain_pem).encode(), key)


def discovery(port: int) -> list[dict[str, object]]:
    slot = {"id": "nginx-www", "config": "/etc/nginx/sites-enabled/www",
            "names": ["www.example.com"],
            "endpoints": [{"address": "127.0.0.1", "port": port, "tls": "direct",
                           "sni": "www.example.com"}],
            "cert": "/etc/nginx/ssl/certs/www.crt", "key": "/etc/nginx/ssl/private/www.key",
            "chain": None, "ca": None, "keystore": None, "keystore_type": None}
    return [{"kind": "nginx", "config": "/etc/nginx/nginx.conf", "user": "root",
             "slots": [slot]}]


def record_deployment(repo: Repository, cert: CertificateRecord,
                      state: DeploymentState = DeploymentState.VERIFIED) -> None:
    deployment = repo.create_deployment(cert.definition, cert.version, SLOT)
    repo.update_deployment(deployment.id, state, reason=None if state is
                           DeploymentState.VERIFIED else "verify: old certificate served")


@dataclass
class World:
    repo: Repository
    home: Path
    definition: DefinitionRecord
    first: CertificateRecord
    endpoint: TlsEndpoint
    hook: WebhookReceiver

    def monitor(self, *, renewer: Renewer | None = None, metrics: MonitorMetrics | None = None,
                **settings: object) -> Monitor:
        values: dict[str, object] = {"expiry_warning": timedelta(days=7),
                                     "probe_timeout": timedelta(seconds=5),
                                     "webhooks": (WebhookChannel("hook", self.hook.url),)}
        values.update(settings)
        s = replace(MonitorSettings(), **values)  # type: ignore[arg-type]
        state = StateFile.in_home(self.home)
        board = NoticeBoard([WebhookNotifier(c) for c in s.webhooks], state, s.repeat)
        root = ca_certificates(self.repo.get_issuer("builtin"))[1]
        return Monitor(self.repo, s, state, board=board, renewer=renewer, metrics=metrics,
                       trust=(root,))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    home = tmp_path / "home"
    with open_repository(None, home) as repo, WebhookReceiver() as hook:
        init_builtin_ca(repo)
        definition = repo.save_definition(make_definition(
            "www", "www.example.com", validity=timedelta(days=30),
            renew_before=timedelta(days=10), targets=(SLOT,)))
        first = issue_with_issuer(repo)(definition)
        with TlsEndpoint(context_for(repo, first)) as endpoint:
            repo.save_discovery("local", discovery(endpoint.port))
            record_deployment(repo, first)
            yield World(repo, home, definition, first, endpoint, hook)


def events(report: PassReport) -> list[tuple[str, str]]:
    return [(p.kind.value, p.subject) for p in report.problems]


def test_healthy_endpoint_is_observed_without_problems(world: World) -> None:
    report = world.monitor().run_once()
    [endpoint] = report.endpoints
    assert endpoint.result.probe.ok and endpoint.result.findings == ()
    assert endpoint.result.probe.leaf_sha256 == world.first.sha256
    assert endpoint.drift is False and endpoint.watched.slots == (SLOT,)
    assert report.problems == () and report.deliveries == () and not report.failed
    [observation] = world.repo.observation_history("127.0.0.1", world.endpoint.port, "direct",
                                                   "www.example.com")
    assert observation.ok and observation.leaf_sha256 == world.first.sha256
    assert observation.host == "local"
    assert report.to_json()["endpoints"][0]["drift"] is False


def test_drift_is_notified_once_and_resolved(world: World) -> None:
    other = world.repo.save_definition(make_definition("other", "www.example.com"))
    stranger = issue_with_issuer(world.repo)(other)
    world.endpoint.serve(context_for(world.repo, stranger))
    monitor = world.monitor()
    first = monitor.run_once()
    assert events(first) == [("drift", f"endpoint local 127.0.0.1:{world.endpoint.port}")]
    assert first.failed and [d.ok for d in first.deliveries] == [True]
    assert monitor.run_once().deliveries == ()  # still drifting: no second notice
    world.endpoint.serve(context_for(world.repo, world.first))
    cleared = monitor.run_once()
    assert cleared.problems == ()
    assert [e[:2] for e in world.hook.events()] == [("problem", "drift"), ("resolved", "drift")]


def test_unreachable_endpoint_is_a_failed_probe(world: World) -> None:
    world.endpoint.__exit__(None, None, None)
    report = world.monitor().run_once()
    [(kind, _)] = events(report)
    assert kind == "probe-failed"
    assert report.problems[0].detail["reason"] == "CONNECTION_REFUSED"
    [post] = world.hook.wait_for(1)
    assert post["event"] == "probe-failed" and post["severity"] == "error"


def test_expiring_definition_without_renewal_is_notified(world: World) -> None:
    report = world.monitor(expiry_warning=timedelta(days=40)).run_once()
    assert ("expiring", "definition www") in events(report)
    # The endpoint serves a certificate certmgr manages: told once, through the definition.
    assert not any(s.startswith("endpoint") for _, s in events(report))


def test_failed_deployment_record_is_a_deploy_problem(world: World) -> None:
    record_deployment(world.repo, world.first, DeploymentState.ROLLED_BACK)
    report = world.monitor().run_once()
    assert ("deploy-failed", f"target {SLOT}") in events(report)


def test_history_is_bounded(world: World) -> None:
    monitor = world.monitor(history=2)
    for _ in range(4):
        monitor.run_once()
    history = world.repo.observation_history("127.0.0.1", world.endpoint.port, "direct",
                                             "www.example.com")
    assert len(history) == 2


class SwappingDeployer:
    """The deploy seam, acting like the engine: serve the new certificate, record it verified."""

    def __init__(self, world: World) -> None:
        self.world = world

    def deploy(self, definition: DefinitionRecord,
               certificate: CertificateRecord) -> Sequence[DeployOutcome]:
        self.world.endpoint.serve(context_for(self.world.repo, certificate))
        record_deployment(self.world.repo, certificate)
        return [DeployOutcome(t, True) for t in definition.targets]


def test_renewal_then_probe_sees_the_new_certificate(world: World) -> None:
    # Version 1 (30 days) is inside a 30-day window; version 2 (60 days) will not be.
    world.repo.save_definition(replace(world.definition, validity=timedelta(days=60),
                                       renew_before=timedelta(days=30)))
    state = StateFile.in_home(world.home)
    renewer = Renewer(world.repo, issue_with_issuer(world.repo), SwappingDeployer(world), state,
                      RetryPolicy(RetrySettings()))
    metrics = MonitorMetrics()
    report = world.monitor(renewer=renewer, metrics=metrics).run_once()
    [renewal] = report.renewals
    assert renewal.status.value == "renewed" and renewal.version == 2
    [endpoint] = report.endpoints
    current = world.repo.current_certificate("www")
    assert current is not None and endpoint.result.probe.leaf_sha256 == current.sha256
    assert endpoint.drift is False and report.problems == ()
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    [info] = families["certmgr_certificate_info"].samples
    assert info.labels["serial"] == current.serial and info.labels["version"] == "2"
    assert families["certmgr_certificate_last_renewal_success"].samples[0].value == 1
    assert families["certmgr_endpoint_probe_success"].samples[0].value == 1
    [post] = world.hook.wait_for(1)
    assert (post["state"], post["event"], post["severity"]) == ("event", "renewed", "info")
    assert post["detail"] == {"version": 2, "serial": current.serial, "targets": SLOT}
    # Nothing is due any more: the next pass renews nothing and announces nothing.
    again = world.monitor(renewer=renewer).run_once()
    assert again.renewals == () and again.deliveries == ()


def test_watch_runs_passes_until_stopped(world: World) -> None:
    monitor = world.monitor(interval=timedelta(seconds=0.05))
    stop = threading.Event()
    passes: list[PassReport] = []

    def on_pass(report: PassReport) -> None:
        passes.append(report)
        if len(passes) == 3:
            stop.set()

    errors: list[BaseException] = []
    monitor.watch(stop, on_pass, errors.append)
    assert len(passes) == 3 and errors == []


def test_watch_reports_a_broken_pass_and_goes_on(world: World) -> None:
    monitor = world.monitor(interval=timedelta(seconds=0.05))
    stop = threading.Event()
    errors: list[BaseException] = []
    calls = []
    real = monitor.run_once

    def flaky() -> PassReport:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("repository went away")
        stop.set()
        return real()

    monitor.run_once = flaky  # type: ignore[method-assign]
    monitor.watch(stop, lambda r: None, errors.append)
    assert [str(e) for e in errors] == ["repository went away"] and len(calls) == 2


def test_event_kinds_cover_the_issue() -> None:
    assert {k.value for k in EventKind} >= {"expiring", "expired", "drift", "probe-failed",
                                            "renewal-failed", "deploy-failed"}


class RefusingDeployer:
    """The deploy seam refusing, as the engine does when preflight fails."""

    def __init__(self) -> None:
        self.refuse = True

    def deploy(self, definition: DefinitionRecord,
               certificate: CertificateRecord) -> Sequence[DeployOutcome]:
        return [DeployOutcome(t, not self.refuse,
                              "preflight: the key does not match" if self.refuse else None)
                for t in definition.targets]


def test_failed_renewal_is_notified_retried_and_resolved(world: World) -> None:
    world.repo.save_definition(replace(world.definition, validity=timedelta(days=60),
                                       renew_before=timedelta(days=30)))
    deployer = RefusingDeployer()
    retry = RetrySettings(base=timedelta(minutes=1), cap=timedelta(minutes=1), jitter=0)
    shift = [timedelta(0)]
    renewer = Renewer(world.repo, issue_with_issuer(world.repo), deployer,
                      StateFile.in_home(world.home), RetryPolicy(retry),
                      clock=lambda: utcnow() + shift[0])
    monitor = world.monitor(renewer=renewer)
    failed = monitor.run_once()
    assert ("deploy-failed", "definition www") in events(failed) and failed.failed
    [post] = world.hook.wait_for(1)
    assert post["event"] == "deploy-failed" and "key does not match" in post["message"]
    deployer.refuse = False
    assert [r.status.value for r in monitor.run_once().renewals] == ["waiting"]
    shift[0] = timedelta(minutes=2)  # the renewer's clock: past the back-off
    fixed = monitor.run_once()
    assert [r.status.value for r in fixed.renewals] == ["renewed"]
    assert fixed.renewals[0].version == 2  # redeployed the version issued, not a third
    assert [e[:2] for e in world.hook.events()] == [
        ("problem", "deploy-failed"), ("resolved", "deploy-failed"), ("event", "renewed")]
