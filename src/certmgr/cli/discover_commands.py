"""``certmgr discover``, ``certmgr check`` and ``certmgr layout``: what is there, what is wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from certmgr.app.inventory import LOCAL_HOST
from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import UsageError
from certmgr.inputs import WARN_DAYS
from certmgr.models import Finding, Severity

if TYPE_CHECKING:
    from certmgr.deploy.layout_plan import LayoutPlan
    from certmgr.programs import Discovery, ServiceKind

# The adapters, checks, PKI and rich are imported inside the commands (and rich only
# where a table or markup is printed): every other command, and every --json run,
# would otherwise pay for loading them at start-up.

__all__ = ["check", "discover", "layout"]


def _kind(value: str) -> ServiceKind:
    from certmgr.programs import ServiceKind

    try:
        return ServiceKind(value)
    except ValueError:
        known = ", ".join(k.value for k in ServiceKind)
        raise UsageError(f"--service {value}: unknown program; one of {known}") from None


def _kinds(values: list[str] | None) -> list[ServiceKind] | None:
    return [_kind(v) for v in values] if values else None


ServiceOpt = Annotated[list[str] | None, typer.Option(
    "--service", "-s", metavar="PROGRAM",
    help="Only this program (slapd, apache2, ...); repeatable.")]
HostOpt = Annotated[str, typer.Option(
    "--host", "-H", metavar="HOST", help="A host from `certmgr host list` (lab:NAME, ssh://...); "
                         "default: this machine, or the --root tree.")]


@command(app, "discover")
def discover(g: Globals, service: ServiceOpt = None, host: HostOpt = LOCAL_HOST,
             store: Annotated[bool, typer.Option(
                 "--store/--no-store", help="Save the result in the repository.")] = True,
             ) -> int:
    """Read each server program's configuration: its services, TLS slots, files, endpoints."""
    from certmgr.app.inventory import discover as run_discover

    found = run_discover(g, host, kinds=_kinds(service), store=store)
    result = found.discovery
    for note in found.notes:
        g.err.print(f"note: {note}", highlight=False, markup=False)
    if found.saved is not None:
        g.debug_log(f"saved {found.saved} slots for host {result.host}")
    if g.json:
        g.emit_json(result.to_json())
        return 0
    _print_discovery(g, result)
    for finding in result.findings:
        g.err.print(f"[yellow]warning[/yellow]: {_where(finding)}{finding.message}",
                    highlight=False)
    return 0


def _print_discovery(g: Globals, result: Discovery) -> None:
    from rich.table import Table

    if not result.services:
        g.out.print("No server program found.")
        return
    for service in result.services:
        g.out.print(f"[bold]{service.kind.value}[/bold]  {service.config}  "
                    f"(reads keys as {service.user})", highlight=False)
        if not service.slots:
            g.out.print("  no TLS slot configured", highlight=False)
            continue
        table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
        for column in ("slot", "names", "endpoints", "files"):
            table.add_column(column, overflow="fold")
        for slot in service.slots:
            endpoints = ", ".join(
                f"{e.address}:{e.port}/{e.tls.value}" for e in slot.endpoints) or "-"
            files = "\n".join(f"{role}: {getattr(slot, role)}" for role in
                              ("cert", "key", "chain", "ca", "keystore") if getattr(slot, role))
            table.add_row(slot.id, ", ".join(slot.names), endpoints, files)
        g.out.print(table)


def _where(finding: Finding) -> str:
    if finding.path is None:
        return ""
    return f"{finding.path}:{finding.line}: " if finding.line else f"{finding.path}: "


@command(app, "check")
def check(g: Globals, service: ServiceOpt = None, host: HostOpt = LOCAL_HOST,
          warn_days: Annotated[int, typer.Option(
              "--warn-days", min=WARN_DAYS.low, max=WARN_DAYS.high,
              help="EXPIRING_SOON within this many days.")] = 30,
          ) -> int:
    """Run every check on every slot: files, keys, permissions, AppArmor, certificates."""
    from certmgr.app.inventory import check as run_check

    report = run_check(g, host, kinds=_kinds(service), warn_days=warn_days)
    findings, errors = report.findings, report.errors
    if g.json:
        g.emit_json(report.to_json())
        return 1 if errors else 0
    if not findings:
        slots = report.slots
        g.out.print(f"No problem found in {slots} slot{'s' if slots != 1 else ''}.")
        return 0
    from rich.markup import escape

    style = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
    for f in findings:
        where = f.slot or f.service or "-"
        g.out.print(f"[{style[f.severity]}]{f.severity.value:7}[/] {f.code:26} {where}: "
                    f"{escape(f.message)}", highlight=False, soft_wrap=True)
    g.out.print(f"{errors} error(s), {len(findings) - errors} other finding(s).")
    return 1 if errors else 0


@command(app, "layout")
def layout(g: Globals,
           service: Annotated[str, typer.Option(
               "--service", "-s", metavar="PROGRAM",
               help="The program to plan for (slapd, apache2, ...).")],
           slot: Annotated[str | None, typer.Option(
               "--slot", metavar="SLOT-ID",
               help="The slot id, when the program has several.")] = None,
           name: Annotated[str | None, typer.Option(
               "--name", metavar="NAME",
               help="Certificate name for the files (default: the slot's name).")]
           = None,
           host: HostOpt = LOCAL_HOST,
           ) -> int:
    """Plan the seed's per-program layout for a service on the shared snakeoil files."""
    from certmgr.app.inventory import layout as plan_layout

    plan = plan_layout(g, _kind(service), host, slot=slot, name=name)
    if g.json:
        g.emit_json(plan.to_json())
        return 0
    _print_plan(g, plan)
    return 0


def _print_plan(g: Globals, plan: LayoutPlan) -> None:
    from rich.table import Table

    g.out.print(f"[bold]{plan.service.value}[/bold] slot {plan.slot}: move to the per-program "
                "layout", highlight=False)
    if not plan.files and not plan.edits:
        g.out.print(f"Nothing to do: {plan.note}", highlight=False)
        return
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    for column in ("path", "owner:group", "mode", "content"):
        table.add_column(column, overflow="fold")
    for f in plan.files:
        table.add_row(f.spec.path, f"{f.spec.owner}:{f.spec.group}", f"{f.spec.mode:04o}",
                      f.describe())
    g.out.print(table)
    for edit in plan.edits:
        g.out.print(f"\n[bold]{edit.title}[/bold]", highlight=False)
        g.out.print(edit.text(), markup=False, highlight=False)
    if plan.note:
        g.out.print(f"\n{plan.note}", highlight=False)
