"""``certmgr deploy``, ``certmgr rollback``, ``certmgr deployments``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import UsageError
from certmgr.inputs import COUNT, ROW_ID, TIMEOUT

if TYPE_CHECKING:
    from certmgr.app.deploy import DeployReport
    from certmgr.deploy.model import DeployPlan, SlotOutcome

HostOption = Annotated[str | None, typer.Option(
    "--host", metavar="HOST",
    help="Only the targets on this host (local, lab:NAME, ssh://user@host:port).")]
TimeoutOption = Annotated[float, typer.Option(
    "--verify-timeout", min=1, max=TIMEOUT.high,
    help="Seconds each endpoint may take to serve the new "
                                    "certificate before the deployment is rolled back.")]
ConcurrencyOption = Annotated[int, typer.Option(
    "--concurrency", min=1, max=256, help="Programs deployed at the same time.")]


@command(app, "deploy")
def deploy(
    g: Globals,
    name: Annotated[str | None, typer.Argument(help="The definition to deploy.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every definition.")] = False,
    host: HostOption = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (files, owners, modes, config diffs); change "
                          "nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deploying.")]
    = False,
    verify_timeout: TimeoutOption = 60.0,
    concurrency: ConcurrencyOption = 8,
) -> int:
    """Install each certificate where its programs read it, reload them, prove it is served.

    Every slot is a transaction: plan, preflight, apply, reload, verify, and on any
    failure a rollback to the old files, verified by probe.
    """
    if (name is None) == (not all_):
        raise UsageError("give a definition NAME or --all (not both)")
    names = [d.name for d in g.repository().list_definitions()] if all_ else [str(name)]
    if not _confirmed(dry_run, yes, names):
        return 1
    from certmgr.app.deploy import deploy as run_deploy

    with _progress(g) as (on_jobs, on_done):
        report = run_deploy(g, names, host=host, dry_run=dry_run,
                            verify_timeout=verify_timeout, concurrency=concurrency,
                            on_jobs=on_jobs, on_done=on_done)
    return _show(g, report, dry_run)


@command(app, "rollback")
def rollback(
    g: Globals,
    slot: Annotated[str, typer.Argument(help="[HOST/]SLOT-ID to take back.")],
    to: Annotated[int | None, typer.Option(
        "--to", metavar="ID", min=ROW_ID.low, max=ROW_ID.high,
        help="The deployment (id from certmgr deployments) whose certificate to "
                     "go back to; default: the one verified before the current one.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    verify_timeout: TimeoutOption = 60.0,
) -> int:
    """Go back on purpose to the certificate of an earlier deployment, as a new deployment."""
    from certmgr.app.deploy import rollback as run_rollback
    from certmgr.app.deploy import rollback_choice

    choice = rollback_choice(g.repository(), slot, to)
    g.info(f"going back to {choice.definition} v{choice.version} "
           f"(deployment {choice.deployment.id})")
    if not _confirmed(dry_run, yes, [choice.definition]):
        return 1
    with _progress(g) as (on_jobs, on_done):
        report = run_rollback(g, choice, dry_run=dry_run, verify_timeout=verify_timeout,
                              on_jobs=on_jobs, on_done=on_done)
    return _show(g, report, dry_run)


@command(app, "deployments")
def deployments(
    g: Globals,
    slot: Annotated[str | None, typer.Argument(help="Only this [HOST/]SLOT-ID.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=COUNT.low, max=COUNT.high,
                                       help="Newest N per slot.")] = 20,
) -> None:
    """The history of deployments: which certificate version went where, when, and how.

    Without SLOT: every slot that has deployments, including slots no definition
    targets any more (their history stays useful, e.g. for ``rollback --to``).
    """
    from certmgr.app.deploy import deployments as history

    records = history(g.repository(), slot, limit=limit)
    if g.json:
        g.emit_json({"deployments": [r.to_json() for r in records]})
        return
    table = Table("id", "target", "certificate", "state", "started", "finished", "reason",
                  box=None, header_style="bold")
    for r in records:
        table.add_row(str(r.id), escape(f"{r.host}/{r.slot_id}"),
                      f"{r.definition} v{r.version}", r.state.value,
                      f"{r.started:%Y-%m-%d %H:%M:%S}",
                      f"{r.finished:%H:%M:%S}" if r.finished else "", escape(r.reason or ""))
    g.out.print(table if records else "no deployments yet")


def _confirmed(dry_run: bool, yes: bool, names: list[str]) -> bool:
    """Ask before changing files, unless --yes or --dry-run; refuse to ask a non-terminal."""
    if dry_run or yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError("deploying changes files and reloads programs: add --yes to "
                         "confirm (or --dry-run to see the plan)")
    return bool(typer.confirm(f"deploy {', '.join(names)}?"))


@contextmanager
def _progress(g: Globals) -> Iterator[tuple[Callable[[int], None],
                                            Callable[[SlotOutcome], None]]]:
    progress = Progress(TextColumn("deploying"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=g.err, transient=True,
                        disable=g.quiet or g.json)
    task = progress.add_task("deploy", total=None)
    with progress:
        yield (lambda n: progress.update(task, total=n)), (lambda _o: progress.advance(task))


def _show(g: Globals, report: DeployReport, dry_run: bool) -> int:
    if g.json:
        g.emit_json(report.to_json())
    else:
        _print(g, report, dry_run)
    return 0 if report.ok else 1


def _print(g: Globals, result: DeployReport, dry_run: bool) -> None:
    for rec in result.recovered:
        g.out.print(f"[yellow]recovered[/yellow] {escape(rec.target)}: {escape(rec.detail)}")
    for outcome in result.outcomes:
        if dry_run and outcome.plan is not None:
            _print_plan(g, outcome.plan)
        style = "green" if outcome.ok else "red"
        line = f"[{style}]{outcome.outcome.value}[/{style}] {escape(outcome.target)}"
        if outcome.reason:
            line += f": {escape(outcome.reason)}"
        g.out.print(line, soft_wrap=True)
        for warning in outcome.detail:
            g.out.print(f"  [yellow]warning[/yellow]: {escape(warning)}", soft_wrap=True)
    if not result.outcomes:
        g.out.print("nothing to deploy")


def _print_plan(g: Globals, plan: DeployPlan) -> None:
    g.out.print(f"[bold]{escape(plan.target.target)}[/bold] ({plan.target.kind.value}, "
                f"{plan.layout} layout): {escape(plan.material.definition)} "
                f"sha256 {plan.fingerprint[:16]}...")
    for d in plan.dirs:
        g.out.print(f"  dir   {d.owner}:{d.group} {d.mode:04o} {escape(d.path)}")
    for f in plan.files:
        g.out.print(f"  file  {f.spec.owner}:{f.spec.group} {f.spec.mode:04o} "
                    f"{escape(f.spec.path)} ({f.role})")
    for edit in plan.edits:
        g.out.print(f"  edit  {escape(edit.spec.path)}")
        g.out.print(escape(edit.diff()), highlight=False, soft_wrap=True, end="")
    if plan.ldap is not None:
        for attr, value in plan.ldap.new.items():
            g.out.print(f"  ldap  {plan.ldap.dn} {attr}: {escape(plan.ldap.old.get(attr, '-'))}"
                        f" -> {escape(value)}")
    g.out.print(f"  reload: {escape(plan.reload)}", soft_wrap=True)
    for note in plan.notes:
        g.out.print(f"  note: {escape(note)}", soft_wrap=True)

