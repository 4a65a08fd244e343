"""``certmgr deploy``, ``certmgr rollback``, ``certmgr deployments``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.deploy.model import DeployPlan
from certmgr.deploy.run import DeployRun, RunResult, Wanted, make_engine
from certmgr.errors import NotFound, UsageError
from certmgr.repository.inventory import split_target

HostOption = Annotated[str | None, typer.Option(
    "--host", metavar="HOST",
    help="Only the targets on this host (local, lab:NAME, ssh://user@host:port).")]
TimeoutOption = Annotated[float, typer.Option(
    "--verify-timeout", min=1, help="Seconds each endpoint may take to serve the new "
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
    repo = g.repository()
    names = [d.name for d in repo.list_definitions()] if all_ else [name]
    return _run(g, [Wanted(str(n)) for n in names], host, dry_run=dry_run, yes=yes,
                verify_timeout=verify_timeout, concurrency=concurrency)


@command(app, "rollback")
def rollback(
    g: Globals,
    slot: Annotated[str, typer.Argument(help="[HOST/]SLOT-ID to take back.")],
    to: Annotated[int | None, typer.Option(
        "--to", metavar="ID",
        help="The deployment (id from certmgr deployments) whose certificate to "
                     "go back to; default: the one verified before the current one.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    verify_timeout: TimeoutOption = 60.0,
) -> int:
    """Go back on purpose to the certificate of an earlier deployment, as a new deployment."""
    repo = g.repository()
    host_name, slot_id = split_target(slot)
    target = f"{host_name}/{slot_id}"
    history = repo.deployment_history(target)
    verified = [d for d in history if d.state.value == "verified"]
    if to is not None:
        chosen = next((d for d in history if d.id == to), None)
        if chosen is None:
            raise UsageError(f"deployment {to} is not a deployment to {target}; see certmgr "
                             f"deployments {target}")
    elif len(verified) >= 2:
        chosen = verified[1]
    else:
        raise UsageError(f"{target} has no earlier verified deployment to go back to")
    g.info(f"going back to {chosen.definition} v{chosen.version} (deployment {chosen.id})")
    wanted = [Wanted(chosen.definition, chosen.version, only_target=target)]
    return _run(g, wanted, None, dry_run=dry_run, yes=yes, verify_timeout=verify_timeout,
                concurrency=1)


@command(app, "deployments")
def deployments(
    g: Globals,
    slot: Annotated[str | None, typer.Argument(help="Only this [HOST/]SLOT-ID.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest N per slot.")] = 20,
) -> None:
    """The history of deployments: which certificate version went where, when, and how.

    Without SLOT: every slot that has deployments, including slots no definition
    targets any more (their history stays useful, e.g. for ``rollback --to``).
    """
    repo = g.repository()
    targets = repo.deployment_targets() if slot is None else ["/".join(split_target(slot))]
    records = sorted((r for t in targets for r in repo.deployment_history(t, limit=limit)),
                     key=lambda r: r.id, reverse=True)
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


def _run(g: Globals, wanted: list[Wanted], host: str | None, *, dry_run: bool, yes: bool,
         verify_timeout: float, concurrency: int) -> int:
    repo = g.repository()
    if not dry_run and not yes:
        if not sys.stdin.isatty():
            raise UsageError("deploying changes files and reloads programs: add --yes to "
                             "confirm (or --dry-run to see the plan)")
        if not typer.confirm(f"deploy {', '.join(w.definition for w in wanted)}?"):
            return 1
    engine = make_engine(repo, g.home, dry_run=dry_run, verify_timeout=verify_timeout)
    with DeployRun(repo, engine, root=g.root).opened(g.home) as run:
        result = _with_progress(g, run, wanted, host, concurrency)
    if g.json:
        g.emit_json(result.to_json())
    else:
        _print(g, result, dry_run)
    return 0 if result.ok else 1


def _with_progress(g: Globals, run: DeployRun, wanted: list[Wanted], host: str | None,
                   concurrency: int) -> RunResult:
    progress = Progress(TextColumn("deploying"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=g.err, transient=True,
                        disable=g.quiet or g.json)
    task = progress.add_task("deploy", total=None)
    with progress:
        try:
            return run.run(wanted, host_filter=host, concurrency=concurrency,
                           on_jobs=lambda n: progress.update(task, total=n),
                           on_done=lambda _o: progress.advance(task))
        except NotFound as exc:
            raise UsageError(exc.message) from None


def _print(g: Globals, result: RunResult, dry_run: bool) -> None:
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

