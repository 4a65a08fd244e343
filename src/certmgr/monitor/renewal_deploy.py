"""The deploy engine behind renewals: a definition's new version to each of its targets.

:class:`EngineDeployer` is the :class:`~certmgr.monitor.renewal.Deployer` the
monitor uses. It runs the same :class:`certmgr.deploy.run.DeployRun` as
``certmgr deploy NAME``: finish what a killed run left, open each target's host
(``local``, ``lab:NAME``, ``ssh://...``), read the slot as the program has it
now, then plan, preflight, apply atomically, reload, verify by probe and roll
back on failure, every deployment recorded in the repository. A host or slot
that cannot be used is a failed outcome, never an exception.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from certmgr.deploy.run import DeployRun, Wanted, make_engine
from certmgr.monitor.renewal import DeployOutcome
from certmgr.repository.records import CertificateRecord, DefinitionRecord

__all__ = ["EngineDeployer"]


class EngineDeployer:
    """Deploys certificate versions through the deploy engine, recording into ``repo``.

    Args:
        repo: the repository (certificates, keys, hosts, deployment records).
        home: certmgr's home (the deploy journal lives there).
        verify_timeout: how long each endpoint may take to serve the new certificate.
        concurrency: slots deployed at once (one program's slots go one after another).
        root: a files-only tree standing for the local host (tests, dry setups).
    """

    def __init__(self, repo: Any, home: Path, *, verify_timeout: float = 60.0,
                 concurrency: int = 8, root: Path | None = None) -> None:
        self.repo = repo
        self.home = home
        self.verify_timeout = verify_timeout
        self.concurrency = concurrency
        self.root = root

    def deploy(self, definition: DefinitionRecord,
               certificate: CertificateRecord) -> Sequence[DeployOutcome]:
        """Deploy ``certificate`` to every target of ``definition``; one outcome per target.

        Deployments an earlier, killed run left open are finished first; one whose
        rollback failed is reported as a failed outcome too, since it needs a human.

        Raises:
            UsageError: a target is on a files-only tree (nothing was changed).
        """
        engine = make_engine(self.repo, self.home, verify_timeout=self.verify_timeout)
        with DeployRun(self.repo, engine, root=self.root).opened() as run:
            result = run.run([Wanted(definition.name, certificate.version)],
                             concurrency=self.concurrency)
        outcomes = [DeployOutcome(o.target, o.ok, o.reason or None) for o in result.outcomes]
        outcomes += [DeployOutcome(r.target, False, f"an interrupted earlier deployment "
                                   f"could not be recovered: {r.detail}")
                     for r in result.recovered if not r.ok]
        return outcomes
