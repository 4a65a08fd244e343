"""``discover``, ``check`` and ``layout``: what is on a host, what is wrong with it, and the
per-program file layout to move to.

The adapters, the checks and the PKI are imported inside the functions: a
command that needs none of them should not pay for loading them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from certmgr.app.context import Context
from certmgr.hosts.base import Host
from certmgr.hosts.local import LocalHost
from certmgr.models import Finding, Severity

if TYPE_CHECKING:
    from certmgr.deploy.layout_plan import LayoutPlan
    from certmgr.programs import Discovery, ServiceKind
    from certmgr.repository import Repository

__all__ = ["LOCAL_HOST", "CheckReport", "Discovered", "check", "discover", "layout", "opened_host",
           "slot_names"]

LOCAL_HOST = "local"


@contextmanager
def opened_host(ctx: Context, name: str) -> Iterator[Host]:
    """The host called ``name``: the local machine (or the ``--root`` tree), or a registered
    lab/SSH host; closed afterwards. The local host never opens the repository."""
    if name == LOCAL_HOST:
        yield (LocalHost(root=ctx.root, name=LOCAL_HOST) if ctx.root
               else LocalHost(name=LOCAL_HOST))
        return
    from certmgr.deploy.sources import open_host

    host = open_host(ctx.repository(), name, root=ctx.root)
    try:
        yield host
    finally:
        close = getattr(host, "close", None)
        if callable(close):
            close()


def slot_names(repo: Repository, host_name: str) -> dict[str, tuple[str, ...]]:
    """Names operators gave the slots of ``host_name``: those of the definitions targeting
    them (slot id -> CN first, then the other SANs)."""
    names: dict[str, tuple[str, ...]] = {}
    for definition in repo.list_definitions():
        for target in definition.targets:
            host, sep, slot_id = target.partition("/")
            if not sep:
                host, slot_id = LOCAL_HOST, target
            if host == host_name:
                wanted = (definition.cn, *[n for n in definition.sans if n != definition.cn])
                names[slot_id] = tuple(n for n in wanted if n)
    return names


@dataclass(frozen=True)
class Discovered:
    """What ``discover`` found, and how many slots it saved (None: not stored).

    ``notes`` say what was carried over to slots discovery renamed (definitions'
    targets, deployment history), one line each.
    """

    discovery: Discovery
    saved: int | None = None
    notes: tuple[str, ...] = ()


def discover(ctx: Context, host: str = LOCAL_HOST, *,
             kinds: Sequence[ServiceKind] | None = None, store: bool = True) -> Discovered:
    """Read each server program's configuration on ``host``; with ``store``, save the
    slots in the repository (slots without names of their own take the names of the
    definitions that target them)."""
    from certmgr.programs import discover_host

    with opened_host(ctx, host) as target:
        result = replace(discover_host(target, kinds=list(kinds) if kinds else None),
                         host=host)
    if not store:
        return Discovered(result)
    from certmgr.app.carryover import carry_over, renamed_slots

    repo = ctx.repository()
    # Definitions and history stored under a slot id discovery no longer reports (one
    # credential on two listeners used to be two slots) follow the slot, first: the
    # names below come from the definitions' targets.
    notes = carry_over(repo, host, renamed_slots(repo.list_slots(host), result.slots()))
    result = result.with_operator_names(slot_names(repo, host))
    return Discovered(result, repo.save_discovery(host, [s.to_json() for s in result.services]),
                      tuple(notes))


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found on one host's slots."""

    findings: tuple[Finding, ...]
    slots: int

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    def to_json(self) -> dict[str, Any]:
        return {"findings": [f.to_json() for f in self.findings]}


def check(ctx: Context, host: str = LOCAL_HOST, *,
          kinds: Sequence[ServiceKind] | None = None, warn_days: int = 30) -> CheckReport:
    """Run every check on every slot of ``host``: files, keys, permissions, AppArmor and
    the certificates, whose chains are judged by the one trust rule (the slot's
    trusted-CA file, or the host's system store and the built-in CA's roots)."""
    from certmgr.app.trust import builtin_roots
    from certmgr.checks.runner import run_checks
    from certmgr.programs import discover_host

    # A home never used has no definitions and no CA: nothing to read, nothing to create
    # (and no database library to load).
    repo = ctx.existing_repository()
    names = slot_names(repo, host) if repo is not None else {}
    anchors = builtin_roots(repo) if repo is not None else []
    with opened_host(ctx, host) as target:
        discovery = discover_host(target, kinds=list(kinds) if kinds else None)
        findings = run_checks(target, discovery.with_operator_names(names),
                              warn_days=warn_days, extra_trust=anchors)
    return CheckReport(tuple(findings), len(discovery.slots()))


def layout(ctx: Context, kind: ServiceKind, host: str = LOCAL_HOST, *,
           slot: str | None = None, name: str | None = None) -> LayoutPlan:
    """Plan the seed's per-program layout for one slot of ``kind`` on ``host``."""
    from certmgr.deploy.layout_plan import plan_layout
    from certmgr.programs import discover_host

    with opened_host(ctx, host) as target:
        discovery = discover_host(target)  # every program: a file two of them read is shared
        return plan_layout(target, discovery, kind, slot_id=slot, name=name)
