"""``deploy``, ``rollback`` and ``deployments``: put certificates where their programs read
them, go back on purpose, and the history.

The deploy engine does the work (:mod:`certmgr.deploy.run`); this module decides
what to deploy: every target of the definitions asked for, or, for a rollback,
the certificate of an earlier deployment of one slot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certmgr.app.context import Context
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import NotFound, UsageError
from certmgr.repository.inventory import split_target

if TYPE_CHECKING:
    from certmgr.deploy.model import SlotOutcome
    from certmgr.deploy.record import StepReporter
    from certmgr.deploy.recovery import Recovered
    from certmgr.deploy.run import Wanted
    from certmgr.repository import DeploymentRecord, Repository

__all__ = ["DeployReport", "Rollback", "deploy", "deploy_targets", "deployment_targets",
           "deployments", "item_of", "rollback_choice"]


@dataclass(frozen=True)
class DeployReport:
    """One deploy run: what a killed run left and was recovered, and one outcome per slot."""

    recovered: tuple[Recovered, ...]
    outcomes: tuple[SlotOutcome, ...]

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and all(r.ok for r in self.recovered)

    @property
    def items(self) -> Batch:
        """The outcomes in the shared per-item shape."""
        return Batch(tuple(item_of(o) for o in self.outcomes))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "recovered": [r.to_json() for r in self.recovered],
                "deployments": self.items.to_json()}


def item_of(outcome: SlotOutcome) -> ItemResult:
    """A slot's outcome as one item of a batch (its JSON keeps the slot outcome's fields)."""
    data = outcome.to_json()
    data.pop("reason")
    return ItemResult(outcome.target, outcome.outcome.value, ok=outcome.ok,
                      reason=outcome.reason, detail=data)


def deploy(ctx: Context, definitions: Sequence[str] | None, *, host: str | None = None,
           dry_run: bool = False, verify_timeout: float = 60.0, concurrency: int = 8,
           on_jobs: Callable[[int], None] | None = None,
           on_done: Callable[[SlotOutcome], None] | None = None) -> DeployReport:
    """Deploy each definition (None: every one) to its targets (only those on ``host``).

    Every slot is a transaction (plan, preflight, apply, reload, verify, rollback
    on failure); one slot or host failing never stops the others.

    Raises:
        UsageError: another deploy runs with this home, or a definition does not exist.
    """
    from certmgr.deploy.run import Wanted

    repo = ctx.repository()
    names = [d.name for d in repo.list_definitions()] if definitions is None \
        else list(definitions)
    return _run(ctx, [Wanted(n) for n in names], host, dry_run=dry_run,
                verify_timeout=verify_timeout, concurrency=concurrency, on_jobs=on_jobs,
                on_done=on_done)


def deployment_targets(repo: Repository, definition: str,
                       targets: Sequence[str] | None = None) -> tuple[tuple[str, str], ...]:
    """``(target, host)`` of each target to deploy ``definition`` to: ``targets`` (each
    one of the definition's own) or, None, all of its own.

    Raises:
        NotFound: no such definition. UsageError: a target is not one of its own.
    """
    own = list(repo.get_definition(definition).targets)
    wanted = own if targets is None else list(dict.fromkeys(targets))
    foreign = [t for t in wanted if t not in own]
    if foreign:
        raise UsageError(f"{', '.join(foreign)}: not a target of {definition} (add it to "
                         "the definition first)")
    return tuple((t, split_target(t)[0]) for t in wanted)


def deploy_targets(ctx: Context, definition: str, targets: Sequence[str] | None = None, *,
                   dry_run: bool = False, verify_timeout: float = 60.0,
                   on_done: Callable[[SlotOutcome], None] | None = None,
                   on_step: StepReporter | None = None) -> DeployReport:
    """Deploy one definition to some of its targets (None: all of them); each slot's
    steps (preflight, applied, reloaded, verified...) told to ``on_step`` live."""
    from certmgr.deploy.run import Wanted

    chosen = deployment_targets(ctx.repository(), definition, targets)
    wanted = [Wanted(definition, only_target=t) for t, _ in chosen]
    if not wanted:
        return DeployReport((), ())
    return _run(ctx, wanted, None, dry_run=dry_run, verify_timeout=verify_timeout,
                concurrency=4, on_jobs=None, on_done=on_done, on_step=on_step)


@dataclass(frozen=True)
class Rollback:
    """What a rollback goes back to: the certificate of an earlier deployment of a slot."""

    target: str
    deployment: DeploymentRecord

    @property
    def definition(self) -> str:
        return str(self.deployment.definition)

    @property
    def version(self) -> int:
        return int(self.deployment.version)


def rollback_choice(repo: Repository, slot: str, to: int | None = None) -> Rollback:
    """The deployment whose certificate a rollback of ``slot`` (``[HOST/]SLOT-ID``) goes
    back to: deployment ``to``, or else the one verified before the current one.

    Raises:
        UsageError: ``to`` is not a deployment of that slot, or there is no earlier one.
    """
    host_name, slot_id = split_target(slot)
    target = f"{host_name}/{slot_id}"
    history = repo.deployment_history(target)
    if to is not None:
        chosen = next((d for d in history if d.id == to), None)
        if chosen is None:
            raise UsageError(f"deployment {to} is not a deployment to {target}; see certmgr "
                             f"deployments {target}")
        return Rollback(target, chosen)
    verified = [d for d in history if d.state.value == "verified"]
    if len(verified) < 2:
        raise UsageError(f"{target} has no earlier verified deployment to go back to")
    return Rollback(target, verified[1])


def rollback(ctx: Context, choice: Rollback, *, dry_run: bool = False,
             verify_timeout: float = 60.0,
             on_jobs: Callable[[int], None] | None = None,
             on_done: Callable[[SlotOutcome], None] | None = None,
             on_step: StepReporter | None = None) -> DeployReport:
    """Deploy the certificate ``choice`` names to its slot again, as a new deployment."""
    from certmgr.deploy.run import Wanted

    wanted = [Wanted(choice.definition, choice.version, only_target=choice.target)]
    return _run(ctx, wanted, None, dry_run=dry_run, verify_timeout=verify_timeout,
                concurrency=1, on_jobs=on_jobs, on_done=on_done, on_step=on_step)


def _run(ctx: Context, wanted: list[Wanted], host: str | None, *, dry_run: bool,
         verify_timeout: float, concurrency: int, on_jobs: Callable[[int], None] | None,
         on_done: Callable[[SlotOutcome], None] | None,
         on_step: StepReporter | None = None) -> DeployReport:
    from certmgr.deploy.run import DeployRun, make_engine

    repo = ctx.repository()
    engine = make_engine(repo, ctx.home, dry_run=dry_run, verify_timeout=verify_timeout,
                         on_step=on_step)
    with DeployRun(repo, engine, root=ctx.root).opened(ctx.home) as run:
        try:
            result = run.run(wanted, host_filter=host, concurrency=concurrency,
                             on_jobs=on_jobs, on_done=on_done)
        except NotFound as exc:
            raise UsageError(exc.message) from None
    return DeployReport(tuple(result.recovered), tuple(result.outcomes))


def deployments(repo: Repository, slot: str | None = None, *,
                limit: int = 20) -> list[DeploymentRecord]:
    """The history of deployments, newest first: of one ``[HOST/]SLOT-ID``, or of every slot
    that has any (including slots no definition targets any more)."""
    targets = repo.deployment_targets() if slot is None else ["/".join(split_target(slot))]
    return sorted((r for t in targets for r in repo.deployment_history(t, limit=limit)),
                  key=lambda r: r.id, reverse=True)
