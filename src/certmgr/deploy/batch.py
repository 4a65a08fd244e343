"""Many slots on many hosts: programs in parallel, one program's slots in order.

Slots of one program on one host are deployed one after the other (one
reload at a time per program); everything else runs in parallel up to a
concurrency limit. One failing host or slot never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from certmgr.deploy.checkpoints import DeployInterrupted
from certmgr.deploy.engine import Engine
from certmgr.deploy.fsops import sigterm_cancels
from certmgr.deploy.model import Material, Outcome, SlotOutcome, SlotTarget
from certmgr.errors import CertmgrError, UsageError
from certmgr.hosts.base import WritableHost

__all__ = ["Job", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """Deploy ``material`` to ``target`` on ``host``."""

    host: WritableHost
    target: SlotTarget
    material: Material


def run_jobs(engine: Engine, jobs: Sequence[Job], *, concurrency: int = 8,
             on_done: Callable[[SlotOutcome], None] | None = None) -> list[SlotOutcome]:
    """Run every job; results in the order of ``jobs``.

    A job on a files-only tree (``--root``), which cannot reload anything, is
    refused as its own outcome; the other jobs run.

    Raises:
        UsageError: every job is on a files-only tree (the command as a whole asks
            for what cannot be done); raised before any job runs.
    """
    unable = ([i for i, job in enumerate(jobs) if not job.host.can_run]
              if not engine.options.dry_run else [])
    if unable and len(unable) == len(jobs):
        raise UsageError(_files_only(jobs[0]))
    results: dict[int, SlotOutcome] = {
        i: SlotOutcome(jobs[i].target.target, Outcome.REFUSED, _files_only(jobs[i]))
        for i in unable}
    for index in unable:
        if on_done is not None:
            on_done(results[index])
    groups: dict[tuple[str, str], list[int]] = {}
    for index, job in enumerate(jobs):
        if index not in results:
            groups.setdefault((job.host.name, job.target.kind.value), []).append(index)

    def run_group(indexes: list[int]) -> None:
        for index in indexes:
            result = _one(engine, jobs[index])
            results[index] = result
            if on_done is not None:
                on_done(result)

    with sigterm_cancels(), ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for future in [pool.submit(run_group, g) for g in groups.values()]:
            future.result()
    return [results[i] for i in range(len(jobs))]


def _files_only(job: Job) -> str:
    return (f"{job.host.name} is a files-only tree: deploying {job.target.target} needs a "
            "reload; use --dry-run, or a host (local, ssh://..., lab:NAME)")


def _one(engine: Engine, job: Job) -> SlotOutcome:
    try:
        return engine.deploy(job.host, job.target, job.material)
    except DeployInterrupted as exc:
        return SlotOutcome(job.target.target, Outcome.ROLLED_BACK, exc.message)
    except CertmgrError as exc:
        # Reaching the host failed before any change (the engine rolls back after one).
        return SlotOutcome(job.target.target, Outcome.REFUSED, exc.message)
