"""A whole ``certmgr deploy`` run: recover what a killed run left, resolve targets, deploy.

:mod:`certmgr.app.deploy` calls these for every face (the CLI, later the web console).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certmgr.deploy.batch import Job, run_jobs
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.journal import FileJournalStore, RepositoryCipher
from certmgr.deploy.model import Material, Outcome, SlotOutcome, SlotTarget
from certmgr.deploy.record import Recorder, RepositoryRecorder, StepRecorder, StepReporter
from certmgr.deploy.recovery import Recovered, recover
from certmgr.deploy.sources import material_from_repository, open_host
from certmgr.deploy.targets import slot_targets
from certmgr.errors import CertmgrError, UsageError
from certmgr.hosts.base import WritableHost
from certmgr.programs import discover_host
from certmgr.repository.inventory import split_target

__all__ = ["DeployRun", "RunResult", "Wanted", "make_engine"]


def make_engine(repository: Any, home: Path, *, dry_run: bool = False,
                verify_timeout: float = 60.0, on_step: StepReporter | None = None) -> Engine:
    """The engine: journal under ``home``, secrets and records in the repository; each
    slot's steps told to ``on_step`` as they happen."""
    recorder: Recorder = RepositoryRecorder(repository)
    if on_step is not None:
        recorder = StepRecorder(recorder, on_step)
    return Engine(FileJournalStore(home / "deploy-journal"), RepositoryCipher(repository),
                  recorder,
                  EngineOptions(dry_run=dry_run, verify_timeout=verify_timeout))


@dataclass(frozen=True)
class Wanted:
    """One definition (at its current or a given version) to deploy to its targets."""

    definition: str
    version: int | None = None
    only_target: str | None = None  # ``HOST/SLOT-ID``: just this one


@dataclass
class RunResult:
    recovered: list[Recovered] = field(default_factory=list)
    outcomes: list[SlotOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes) and all(r.ok for r in self.recovered)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "recovered": [r.to_json() for r in self.recovered],
                "deployments": [o.to_json() for o in self.outcomes]}


class DeployRun:
    """Hosts opened once per run (and closed after), discovery once per host."""

    def __init__(self, repository: Any, engine: Engine, *, root: Path | None = None) -> None:
        self.repository = repository
        self.engine = engine
        self.root = root
        self._hosts: dict[str, WritableHost] = {}
        self._targets: dict[str, dict[str, SlotTarget]] = {}

    @contextlib.contextmanager
    def opened(self, home: Path | None = None) -> Iterator[DeployRun]:
        """Hold the home's deploy lock (``home``) and close the hosts at the end.

        One deploy run at a time per home: recovery rolls back every open journal
        record, which must never be another run's transaction in progress.
        """
        with contextlib.ExitStack() as stack:
            if home is not None and not self.engine.options.dry_run:
                stack.enter_context(_deploy_lock(home))
            try:
                yield self
            finally:
                for host in self._hosts.values():
                    close = getattr(host, "close", None)
                    if callable(close):
                        close()

    def host(self, name: str) -> WritableHost:
        if name not in self._hosts:
            self._hosts[name] = open_host(self.repository, name, root=self.root)
        return self._hosts[name]

    def _host_or_none(self, name: str) -> WritableHost | None:
        try:
            return self.host(name)
        except CertmgrError:
            return None

    def recover(self) -> list[Recovered]:
        """Finish (roll back) deployments a killed run left open."""
        if self.engine.options.dry_run:
            return []
        done = recover(self.engine.store, self.engine.cipher, self.engine.recorder,
                       self._host_or_none, verify_timeout=self.engine.options.verify_timeout)
        # A run killed after recording a deployment but before its first change left
        # no journal: nothing to undo, only the record to close.
        journaled = {int(r.detail["meta:deployment"]) for r in self.engine.store.pending()
                     if r.detail.get("meta:deployment")}
        for record in self.repository.unfinished_deployments():
            if record.id in journaled:
                continue  # its host could not be reached: the journal keeps it for later
            self.repository.update_deployment(
                record.id, "rolled_back", reason="interrupted before any file was changed")
            done.append(Recovered(f"{record.host}/{record.slot_id}", True,
                                  "interrupted before any change; record closed"))
        return done

    def slot(self, host_name: str, slot_id: str) -> SlotTarget | None:
        if host_name not in self._targets:
            host = self.host(host_name)
            found = slot_targets(host.name, discover_host(host).slots())
            self._targets[host_name] = {t.slot_id: t for t in found}
        return self._targets[host_name].get(slot_id)

    def jobs(self, wanted: Sequence[Wanted], host_filter: str | None = None
             ) -> tuple[list[Job], list[SlotOutcome]]:
        """Jobs for every target of every wanted definition; refusals for what cannot run."""
        jobs: list[Job] = []
        refused: list[SlotOutcome] = []
        for want in wanted:
            definition = self.repository.get_definition(want.definition)
            targets = [want.only_target] if want.only_target else list(definition.targets)
            if not targets:
                refused.append(SlotOutcome(want.definition, Outcome.REFUSED,
                                           "the definition has no targets; add --target"))
                continue
            try:
                material = material_from_repository(self.repository, want.definition,
                                                    want.version)
            except CertmgrError as exc:
                refused += [SlotOutcome(t, Outcome.REFUSED, exc.message) for t in targets]
                continue
            for target in targets:
                host_name, slot_id = split_target(target)
                if host_filter is not None and host_name != host_filter:
                    continue
                self._add(jobs, refused, host_name, slot_id, material)
        return jobs, refused

    def _add(self, jobs: list[Job], refused: list[SlotOutcome], host_name: str, slot_id: str,
             material: Material) -> None:
        name = f"{host_name}/{slot_id}"
        try:
            slot = self.slot(host_name, slot_id)
        except CertmgrError as exc:
            refused.append(SlotOutcome(name, Outcome.REFUSED, exc.message))
            return
        if slot is None:
            refused.append(SlotOutcome(name, Outcome.REFUSED,
                                       f"{host_name} has no slot {slot_id} now; run certmgr "
                                       f"discover --host {host_name}"))
            return
        jobs.append(Job(self.host(host_name), slot, material))

    def run(self, wanted: Sequence[Wanted], *, host_filter: str | None = None,
            concurrency: int = 8,
            on_done: Callable[[SlotOutcome], None] | None = None,
            on_jobs: Callable[[int], None] | None = None) -> RunResult:
        result = RunResult(recovered=self.recover())
        jobs, refused = self.jobs(wanted, host_filter)
        if on_jobs is not None:
            on_jobs(len(jobs))
        result.outcomes = refused + run_jobs(self.engine, jobs, concurrency=concurrency,
                                             on_done=on_done)
        return result


@contextlib.contextmanager
def _deploy_lock(home: Path) -> Iterator[None]:
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(home / "deploy.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another certmgr deploy is running with the home {home}; wait "
                             "for it to finish") from None
        yield
    finally:
        os.close(fd)
