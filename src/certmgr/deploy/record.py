"""Where deployments and their outcomes are recorded: the repository, or nowhere.

The engine talks to a :class:`Recorder`; :class:`RepositoryRecorder` stores
each deployment (which certificate version went to which slot, when, with what
result) and the files it replaced (secrets encrypted), so ``certmgr
deployments`` can show the history and ``rollback --to`` can go back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from certmgr.deploy.model import DeployPlan
from certmgr.errors import NotFound

__all__ = ["NullRecorder", "Recorder", "RepositoryRecorder", "StepRecorder", "StepReporter"]

StepReporter = Callable[[str, str, "str | None"], None]
"""Told ``(target, state, reason)`` at each step of a slot's deployment."""


class Recorder(Protocol):
    """Receives a deployment's progress. Every method is called from worker threads."""

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        """Record a new deployment (after preflight, before apply); return its id.

        ``backup``: the files as they are now (path, owner, group, mode, existed,
        data, secret), saved before anything is replaced.
        """
        ...

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        """Move the deployment to ``state`` (``applied``, ``reloaded``, ``verified``,
        ``rolled_back``, ``failed``)."""
        ...


class NullRecorder:
    """Records nothing (dry runs, tests of the engine alone)."""

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        return None

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        return None


class RepositoryRecorder:
    """Records into certmgr's repository (``create_deployment``/``update_deployment``)."""

    def __init__(self, repository: Any) -> None:
        self.repository = repository

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        from certmgr.repository import BackupFile

        material = plan.material
        if material.version is None:
            return None  # not a repository certificate: nothing to attach the record to
        try:
            record = self.repository.create_deployment(
                material.definition, material.version, plan.target.target,
                data={"plan": plan.to_json()})
        except NotFound:
            return None
        files = [BackupFile(**b) for b in backup]
        self.repository.update_deployment(record.id, "preflight", backup=files)
        return int(record.id)

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        if deployment_id is not None:
            self.repository.update_deployment(deployment_id, state, reason=reason, data=data)


class StepRecorder:
    """Records through ``inner``, then tells ``on_step`` each step of each slot as it
    happens (``preflight``, ``applied``, ``reloaded``, ``verified``, ``rolled_back``,
    ``failed``): what a live progress view shows while a deploy runs."""

    def __init__(self, inner: Recorder, on_step: StepReporter) -> None:
        self._inner, self._on_step = inner, on_step
        self._targets: dict[int, str] = {}
        self._lock = threading.Lock()

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        deployment = self._inner.start(plan, backup)
        if deployment is not None:
            with self._lock:
                self._targets[deployment] = plan.target.target
        self._on_step(plan.target.target, "preflight", None)
        return deployment

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        self._inner.update(deployment_id, state, reason, data)
        with self._lock:
            target = self._targets.get(deployment_id) if deployment_id is not None else None
        if target is not None:
            self._on_step(target, state, reason)
