"""``certmgr discover``, ``certmgr check`` and ``certmgr layout``: what is there, what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.errors import UsageError
from certmgr.hosts.base import Host
from certmgr.hosts.local import LocalHost
from certmgr.models import Finding, Severity

if TYPE_CHECKING:
    from certmgr.deploy.layout_plan import LayoutPlan
    from certmgr.programs import Discovery, ServiceKind

# The adapters, checks and PKI are imported inside the commands: every other
# command would otherwise pay for loading them at start-up.

__all__ = ["check", "discover", "layout"]

LOCAL_HOST = "local"


@contextmanager
def _host(g: Globals, name: str) -> Iterator[tuple[str, Host]]:
    """(name, host): the local machine (or the --root tree), or a registered lab/SSH host."""
    if name == LOCAL_HOST:
        yield name, (LocalHost(root=g.root, name=LOCAL_HOST) if g.root
                     else LocalHost(name=LOCAL_HOST))
        return
    from certmgr.deploy.sources import open_host

    host = open_host(g.repository(), name, root=g.root)
    try:
        yield name, host
    finally:
        close = getattr(host, "close", None)
        if callable(close):
            close()


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
    from certmgr.programs import discover_host

    with _host(g, host) as (name, target):
        result = replace(discover_host(target, kinds=_kinds(service)), host=name)
    if store:
        # Slots without names of their own answer to what a definition targeting them says.
        names, _trust = _from_repository(g, name, trust=False)
        result = result.with_operator_names(names)
        count = g.repository().save_discovery(name, [s.to_json() for s in result.services])
        g.debug_log(f"saved {count} slots for host {result.host}")
    if g.json:
        g.emit_json(result.to_json())
        return 0
    _print_discovery(g, result)
    for finding in result.findings:
        g.err.print(f"[yellow]warning[/yellow]: {_where(finding)}{finding.message}",
                    highlight=False)
    return 0


def _print_discovery(g: Globals, result: Discovery) -> None:
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
              "--warn-days", min=0, help="EXPIRING_SOON within this many days.")] = 30,
          ) -> int:
    """Run every check on every slot: files, keys, permissions, AppArmor, certificates."""
    from certmgr.checks.runner import run_checks
    from certmgr.programs import discover_host

    names, trust = _from_repository(g, host)
    with _host(g, host) as (_name, target):
        discovery = discover_host(target, kinds=_kinds(service))
        findings = run_checks(target, discovery.with_operator_names(names),
                              warn_days=warn_days, extra_trust=trust)
    errors = sum(1 for f in findings if f.severity is Severity.ERROR)
    if g.json:
        g.emit_json({"findings": [f.to_json() for f in findings]})
        return 1 if errors else 0
    if not findings:
        slots = len(discovery.slots())
        g.out.print(f"No problem found in {slots} slot{'s' if slots != 1 else ''}.")
        return 0
    style = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
    for f in findings:
        where = f.slot or f.service or "-"
        g.out.print(f"[{style[f.severity]}]{f.severity.value:7}[/] {f.code:26} {where}: "
                    f"{escape(f.message)}", highlight=False, soft_wrap=True)
    g.out.print(f"{errors} error(s), {len(findings) - errors} other finding(s).")
    return 1 if errors else 0


def _from_repository(g: Globals, host_name: str, *, trust: bool = True,
                     ) -> tuple[dict[str, tuple[str, ...]], list[Any]]:
    """Names operators gave slots (definitions' targets) and certmgr's own CA certificates."""
    from certmgr.pki import load_bundle

    repo = g.repository()
    names: dict[str, tuple[str, ...]] = {}
    for definition in repo.list_definitions():
        for target in definition.targets:
            host, sep, slot_id = target.partition("/")
            if not sep:
                host, slot_id = LOCAL_HOST, target
            if host == host_name:
                wanted = (definition.cn, *[n for n in definition.sans if n != definition.cn])
                names[slot_id] = tuple(n for n in wanted if n)
    anchors: list[Any] = []
    for issuer in repo.list_issuers() if trust else []:
        if issuer.certificates_pem.strip():
            bundle = load_bundle(issuer.certificates_pem.encode(), source=f"issuer {issuer.name}")
            anchors.extend(bundle.certificates)
    return names, anchors


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
    from certmgr.deploy.layout_plan import plan_layout
    from certmgr.programs import discover_host

    kind = _kind(service)
    with _host(g, host) as (_name, target):
        discovery = discover_host(target)  # every program: a file two of them read is shared
        plan = plan_layout(target, discovery, kind, slot_id=slot, name=name)
    if g.json:
        g.emit_json(plan.to_json())
        return 0
    _print_plan(g, plan)
    return 0


def _print_plan(g: Globals, plan: LayoutPlan) -> None:
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
