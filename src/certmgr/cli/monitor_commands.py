"""``certmgr monitor --once | --watch`` and ``certmgr notify test``."""

from __future__ import annotations

import dataclasses
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from certmgr.app.monitor import make_monitor, monitor_once
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.deploy.checkpoints import cancel_requested
from certmgr.errors import CertmgrError, UsageError
from certmgr.monitor.metrics import MetricsServer, MonitorMetrics
from certmgr.monitor.notify import Delivery, build_notifiers, send_test
from certmgr.monitor.scheduler import PassReport
from certmgr.monitor.settings import (
    MonitorSettings,
    load_settings,
    parse_duration,
    parse_listen,
)

__all__ = ["monitor", "notify_test"]

notify_app = typer.Typer(help="Notification channels (email, webhooks) of the monitor.",
                         no_args_is_help=True)
app.add_typer(notify_app, name="notify")

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", metavar="FILE", help="Monitor configuration (default: <home>/monitor.toml).")]


@command(app, "monitor")
def monitor(
    g: Globals,
    once: Annotated[bool, typer.Option("--once", help="Run one pass and exit (default).")] = False,
    watch: Annotated[bool, typer.Option(
        "--watch", help="Run a pass every --interval until stopped (SIGTERM/Ctrl-C).")] = False,
    interval: Annotated[str | None, typer.Option(
        "--interval", metavar="DURATION", help="Time between passes, e.g. 30s, 5m, 1h.")] = None,
    metrics_listen: Annotated[str | None, typer.Option(
        "--metrics-listen", metavar="ADDR:PORT",
        help="Serve Prometheus /metrics here (loopback only), e.g. 127.0.0.1:9464.")] = None,
    config: ConfigOption = None,
    no_renew: Annotated[bool, typer.Option(
        "--no-renew", help="Only watch and notify; do not renew certificates.")] = False,
    ca: Annotated[list[Path] | None, typer.Option(
        "--ca", metavar="FILE", help="Also trust this CA when judging served chains.")] = None,
) -> int:
    """Probe every endpoint in the repository, renew what is due, notify, export metrics."""
    if once and watch:
        raise UsageError("--once and --watch exclude each other: pick one")
    if watch and g.json:
        raise UsageError("--json prints one pass: use it with --once (--watch logs to stderr)")
    settings = _settings(g, config, interval, metrics_listen, no_renew)
    if not watch:
        report = monitor_once(g, settings, ca_files=ca or [])
        _show(g, report)
        return 1 if report.failed else 0
    return _watch(g, settings, ca or [])


@command(notify_app, "test")
def notify_test(g: Globals, config: ConfigOption = None) -> int:
    """Send a test notice on every configured channel; exit 1 if one failed."""
    settings = load_settings(g.home, config)
    notifiers = build_notifiers(settings)
    if not notifiers:
        where = settings.source or str(g.home / "monitor.toml")
        raise UsageError(f"{where}: no notification channel configured; add "
                         "[[notify.email]] or [[notify.webhook]] (see docs/monitoring.md)")
    deliveries = send_test(notifiers)
    if g.json:
        g.emit_json({"notifications": [d.to_json() for d in deliveries]})
    for d in deliveries:
        if d.ok:
            g.out.print(f"{d.channel}: test notice sent", highlight=False)
        else:
            g.err.print(f"{d.channel}: FAILED: {d.error}", highlight=False)
    return 1 if any(not d.ok for d in deliveries) else 0


# -- wiring -------------------------------------------------------------------------


def _settings(g: Globals, config: Path | None, interval: str | None,
              metrics_listen: str | None, no_renew: bool) -> MonitorSettings:
    settings = load_settings(g.home, config)
    changes: dict[str, Any] = {}
    if interval is not None:
        changes["interval"] = parse_duration(interval, what="--interval")
    if metrics_listen is not None:
        parse_listen(metrics_listen)  # refuse a bad address before any work
        changes["metrics_listen"] = metrics_listen
    if no_renew:
        changes["renew"] = False
    return dataclasses.replace(settings, **changes)


# -- watching -----------------------------------------------------------------------


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _watch(g: Globals, settings: MonitorSettings, ca: list[Path]) -> int:
    metrics = MonitorMetrics() if settings.metrics_listen else None

    def told(deliveries: list[Delivery]) -> None:
        # On the notice worker's thread: the passes go on meanwhile.
        if metrics is not None:
            metrics.notices_failed(sum(not d.ok for d in deliveries))
        for d in deliveries:
            if not d.ok:
                g.err.print(f"notice to {d.channel} failed: {d.error}", highlight=False)

    def notice_error(exc: BaseException) -> None:
        g.err.print(f"notifications failed: {_describe(exc)}", highlight=False)

    monitor = make_monitor(g, settings, ca_files=ca, metrics=metrics,
                           notices=(told, notice_error))
    server = MetricsServer(metrics, settings.metrics_listen) if metrics and \
        settings.metrics_listen else None
    if server is not None:
        g.info(f"metrics on {server.url}")
    g.info(f"monitoring every {settings.interval.total_seconds():g}s; stop with SIGTERM")
    errors = 0

    def on_error(exc: BaseException) -> None:
        nonlocal errors
        errors += 1
        g.err.print(f"monitor pass failed: {_describe(exc)}", highlight=False)

    def on_pass(report: PassReport) -> None:
        _log_pass(g, report)
        # A SIGTERM during a deploy cancels the deploy (it rolls back) rather than
        # reaching our handler; it still means "stop watching".
        if cancel_requested():
            stop.set()

    try:
        with _stop_on_signals() as stop:
            monitor.watch(stop, on_pass, on_error)
    finally:
        if monitor.notices is not None:
            # What is waiting still goes out, within the channels' own deadlines.
            monitor.notices.close(_longest_delivery(settings))
        if server is not None:
            server.close()
    g.info("monitor stopped")
    return 0


def _describe(exc: BaseException) -> str:
    return exc.message if isinstance(exc, CertmgrError) else \
        f"internal error: {type(exc).__name__}: {exc}"


def _longest_delivery(settings: MonitorSettings) -> float:
    return max((ch.timeout for ch in settings.channels), default=0.0) + 5.0


def _log_pass(g: Globals, report: PassReport) -> None:
    ok = sum(e.result.probe.ok for e in report.endpoints)
    renewed = [r.definition for r in report.renewals if r.status.value == "renewed"]
    failed_notices = sum(not d.ok for d in report.deliveries)
    # Under --watch the notices go out beside the passes and are reported as they end.
    notices = f", {len(report.deliveries)} notices ({failed_notices} failed)" \
        if report.deliveries else ""
    g.info(f"pass: {ok}/{len(report.endpoints)} endpoints answered, "
           f"{len(report.problems)} problems, renewed {', '.join(renewed) or 'none'}"
           f"{notices}")
    for r in report.renewals:
        if r.status.value == "failed":
            g.err.print(f"renewal of {r.definition} failed ({r.stage}): {r.error}",
                        highlight=False)
    for d in report.deliveries:
        if not d.ok:
            g.err.print(f"notice to {d.channel} failed: {d.error}", highlight=False)


# -- output -------------------------------------------------------------------------


def _show(g: Globals, report: PassReport) -> None:
    if g.json:
        g.emit_json(report.to_json())
        return
    if report.endpoints:
        table = Table("host", "endpoint", "probe", "serves", "findings", box=None)
        for e in report.endpoints:
            probe = e.result.probe
            serves = (probe.leaf_sha256 or "")[:16]
            codes = ", ".join(f.code for f in e.result.findings) or "-"
            table.add_row(e.watched.host, str(probe.target), "ok" if probe.ok else "FAILED",
                          serves, codes)
        g.out.print(table)
    else:
        g.out.print("no endpoints in the repository (run `certmgr discover` to find them)")
    for c in report.certificates:
        left = f"until {c.not_after:%Y-%m-%d %H:%M} UTC" if c.not_after else "never issued"
        g.out.print(f"certificate {c.definition}: version {c.version or '-'} {left}",
                    highlight=False)
    for r in report.renewals:
        g.out.print(f"renewal {r.definition}: {r.status.value} ({r.stage}) "
                    f"{r.error or r.serial or ''}", highlight=False)
    for p in report.problems:
        g.out.print(f"[{p.severity.value}] {p.kind.value}: {p.message}", highlight=False)
    for d in report.deliveries:
        g.out.print(f"notice {d.notice.state.value} {d.notice.problem.kind.value} -> "
                    f"{d.channel}: {'sent' if d.ok else 'FAILED: ' + str(d.error)}",
                    highlight=False)
