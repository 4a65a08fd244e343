"""``monitor``: one monitor wired to the repository, the notifiers, the renewer (issue and
deploy) and the one trust rule; a pass of it, or watching with it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from certmgr.app.context import Context
from certmgr.app.trust import trust_for
from certmgr.monitor.metrics import MonitorMetrics
from certmgr.monitor.notify import Delivery, NoticeBoard, build_notifiers
from certmgr.monitor.notify_worker import NoticeWorker
from certmgr.monitor.renewal import RenewalResult, Renewer, RetryPolicy, issue_with_issuer
from certmgr.monitor.scheduler import Monitor, PassReport
from certmgr.monitor.settings import MonitorSettings
from certmgr.monitor.state import StateFile

__all__ = ["make_monitor", "monitor_once"]


def make_monitor(ctx: Context, settings: MonitorSettings, *, ca_files: Iterable[Path] = (),
                 metrics: MonitorMetrics | None = None,
                 notices: tuple[Callable[[list[Delivery]], None],
                                Callable[[BaseException], None]] | None = None) -> Monitor:
    """The monitor of ``ctx``'s repository: its state file in the home, notices on the
    configured channels, renewals (unless ``settings.renew`` is off) issued by each
    definition's issuer and deployed through the deploy engine, and served chains
    judged by the one trust rule (system store, built-in CA's roots, ``ca_files``).

    With ``notices`` (``(done, error)``), notices go out beside the passes on a
    :class:`~certmgr.monitor.notify_worker.NoticeWorker` (``--watch``), which hands
    each batch's deliveries to ``done`` and an exception a batch raised to ``error``."""
    from certmgr.monitor.renewal_deploy import EngineDeployer

    repo = ctx.repository()
    state = StateFile.in_home(ctx.home)
    board = NoticeBoard(build_notifiers(settings), state, settings.repeat)
    renewer = None
    if settings.renew:
        from certmgr.app.acme_renewal import acme_aware_issue

        failovers: dict[str, tuple[str, ...]] = {}
        renewer = _AcmeRenewer(repo, acme_aware_issue(repo, issue_with_issuer(repo), failovers),
                               EngineDeployer(repo, ctx.home), state,
                               RetryPolicy(settings.retry))
        renewer.failovers = failovers
    worker = NoticeWorker(board, *notices) if notices is not None else None
    return Monitor(repo, settings, state, board=board, renewer=renewer, metrics=metrics,
                   trust=trust_for(repo, ca_files=ca_files), notices=worker)


class _AcmeRenewer(Renewer):
    """The renewer, with ACME renewal information refreshed before each pass (only the
    certificates whose next check time has come cost a request), and each renewal that
    needed a later issuer carrying why the earlier ones failed (announced as an
    ``issuer-failover`` notice)."""

    failovers: dict[str, tuple[str, ...]]

    def run(self) -> list[RenewalResult]:
        from dataclasses import replace

        from certmgr.app.acme_renewal import refresh_renewal_info

        refresh_renewal_info(self.repo, self.clock())  # type: ignore[arg-type]
        self.failovers.clear()
        return [replace(r, failover=self.failovers[r.definition])
                if r.definition in self.failovers else r for r in super().run()]


def monitor_once(ctx: Context, settings: MonitorSettings, *,
                 ca_files: Iterable[Path] = ()) -> PassReport:
    """One monitor pass: probe, renew what is due, notify; its report."""
    return make_monitor(ctx, settings, ca_files=ca_files).run_once()
