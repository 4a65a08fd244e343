"""One slot's deployment as a transaction: plan, preflight, apply, reload, verify, rollback.

:class:`Engine.deploy` never raises for what happens on the host: every
outcome is a :class:`SlotOutcome` (STYLE.md point 6). It raises only for
usage errors (a files-only host asked to reload).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from certmgr.deploy.checkpoints import checkpoint
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.fsops import FileTransaction
from certmgr.deploy.journal import Cipher, JournalStore
from certmgr.deploy.layout import plan_slot
from certmgr.deploy.model import DeployPlan, Material, Outcome, SlotOutcome, SlotTarget
from certmgr.deploy.preflight import preflight
from certmgr.deploy.record import NullRecorder, Recorder
from certmgr.deploy.verify import served_now, wait_served
from certmgr.errors import CertmgrError, HostError, PreflightFailed, ReloadFailed, UsageError
from certmgr.hosts.base import WritableHost, stat_many
from certmgr.pki.write import certificates_pem
from certmgr.programs import ProgramSpec, spec_for
from certmgr.programs.spec import ReloadContext

__all__ = ["Engine", "EngineOptions"]


@dataclass(frozen=True)
class EngineOptions:
    """``verify_timeout``: how long an endpoint may take to serve the new certificate."""

    dry_run: bool = False
    verify_timeout: float = 30.0


@dataclass
class Engine:
    """Deploys material to slots; journal and recorder are shared by every slot."""

    store: JournalStore
    cipher: Cipher
    recorder: Recorder = field(default_factory=NullRecorder)
    options: EngineOptions = field(default_factory=EngineOptions)

    def plan(self, host: WritableHost, target: SlotTarget, material: Material) -> DeployPlan:
        program = spec_for(target.kind)
        return plan_slot(host, target, material, program, ServiceControl(host))

    def deploy(self, host: WritableHost, target: SlotTarget, material: Material) -> SlotOutcome:
        """Deploy ``material`` to ``target`` on ``host`` (or only plan it, on a dry run)."""
        program = spec_for(target.kind)
        control = ServiceControl(host)
        try:
            plan = plan_slot(host, target, material, program, control)
        except CertmgrError as exc:
            return SlotOutcome(target.target, Outcome.REFUSED, exc.message)
        if not self.options.dry_run and not host.can_run:
            raise UsageError(f"{host.name} is a files-only tree: deploying to "
                             f"{target.target} needs a reload; use --dry-run here, or a host "
                             "(local, ssh://..., lab:NAME) to deploy")
        report = preflight(host, plan)
        if not report.ok:
            return SlotOutcome(target.target, Outcome.REFUSED, "; ".join(report.problems),
                               plan=plan, detail=report.warnings)
        if self.options.dry_run:
            return SlotOutcome(target.target, Outcome.PLANNED, plan=plan,
                               detail=report.warnings)
        return _Run(self, host, plan, program, control, report.warnings).run()


class _Run:
    """The apply -> reload -> verify -> (rollback) part of one slot's deployment."""

    def __init__(self, engine: Engine, host: WritableHost, plan: DeployPlan, program: ProgramSpec,
                 control: ServiceControl, warnings: tuple[str, ...]) -> None:
        self.engine, self.host, self.plan = engine, host, plan
        self.program, self.control, self.warnings = program, control, warnings
        self.target = plan.target
        self.reloaded = False
        self.deployment: int | None = None
        self.old: dict[str, str | None] = {}

    def run(self) -> SlotOutcome:
        results = served_now(self.target.endpoints, self.host.address)
        self.old = {name: r.leaf_sha256 if r.ok else None for name, r in results.items()}
        self.deployment = self.engine.recorder.start(self.plan, self._backup())
        txn = FileTransaction(self.host, self.engine.store, self.engine.cipher,
                              label=self.target.target, meta=self._meta())
        try:
            changed = self._apply(txn)
            if not changed and all(v == self.plan.fingerprint for v in self.old.values()):
                txn.commit()
                self._record("verified", "already in place and served")
                return self._outcome(Outcome.UNCHANGED, "already in place and served",
                                     {k: v for k, v in self.old.items()})
            self._record("applied")
            problem = self.program.config_test(self.host, self.plan)
            if problem is not None:
                raise PreflightFailed(problem, service=self.target.kind.value,
                                      slot=self.target.slot_id)
            checkpoint("reload")
            self.reloaded = True
            how = self._reload(restoring=False)
            self._record("reloaded", data={"reload": how})
            checkpoint("verify")
            want = {name: self.plan.fingerprint for name in self.old}
            ok, seen = wait_served(self.target.endpoints, self.host.address, want,
                                   timeout=self.engine.options.verify_timeout,
                                   settle=self.program.settle)
            if not ok:
                raise ReloadFailed(_not_served(seen, "the new certificate"))
        except (CertmgrError, OSError) as exc:
            return self._rollback(txn, getattr(exc, "message", str(exc)))
        except BaseException as exc:  # KeyboardInterrupt: undo, then let it go on
            self._rollback(txn, f"interrupted ({type(exc).__name__})")
            raise
        txn.commit()
        self._record("verified")
        return self._outcome(Outcome.VERIFIED, "", seen)

    def _apply(self, txn: FileTransaction) -> bool:
        changed = False
        for spec in self.plan.dirs:
            txn.ensure_dir(spec)
        for f in self.plan.files:
            changed |= txn.write(f.spec, f.data, secret=f.secret, label=f.role)
        for edit in self.plan.edits:
            changed |= txn.write(edit.spec, edit.new, secret=edit.secret, config_edit=True,
                                 label="config")
        ldap = self.plan.ldap
        return changed or (ldap is not None and ldap.new != ldap.old)

    def _rollback(self, txn: FileTransaction, reason: str) -> SlotOutcome:
        try:
            txn.rollback(reason=reason)
        except CertmgrError as exc:
            return self._failed(reason, f"restoring the files failed: {exc.message}")
        if self.reloaded:
            checkpoint("rollback-reload")
            try:
                self._reload(restoring=True)
            except CertmgrError as exc:
                restart = self._restart()
                if restart is not None:
                    return self._failed(reason, f"the old files are back but reloading "
                                                f"{self.target.kind.value} failed: {exc.message}"
                                                f"; restarting it failed too: {restart}")
        checkpoint("rollback-verify")
        ok, seen = wait_served(self.target.endpoints, self.host.address, self.old,
                               timeout=self.engine.options.verify_timeout,
                               settle=self.program.settle)
        if not ok:
            return self._failed(reason, _not_served(seen, "the old certificate"), seen)
        self._record("rolled_back", reason)
        return self._outcome(Outcome.ROLLED_BACK, reason, seen)

    def _reload(self, *, restoring: bool) -> str:
        ctx = ReloadContext(self.host, self.control, self.plan, restoring=restoring)
        try:
            return self.program.reload(ctx)
        except CertmgrError:
            # A program that is not running cannot reload; starting it loads the files.
            if self._running() is False:
                return self.control.restart(self.target.kind.value, self.program.unit)
            raise

    def _running(self) -> bool | None:
        """Whether the program's main process is alive (None: the host cannot tell)."""
        pid = self.control.main_pid(self.target.kind.value)
        return None if pid is None else self.control.alive(pid)

    def _restart(self) -> str | None:
        """Start the program again; None on success, else why it failed.

        A reload cannot revive a program that died (Apache exits on a bad graceful):
        starting it again from the service table or systemd can.
        """
        try:
            self.control.restart(self.target.kind.value, self.program.unit)
        except CertmgrError as exc:
            return exc.message
        return None

    def _failed(self, reason: str, what: str,
                seen: dict[str, str] | None = None) -> SlotOutcome:
        line = (f"ROLLBACK FAILED on {self.host.name} for {self.target.target}: {what}. "
                f"The deployment failed first because: {reason}. Check the program and the "
                "files listed in the deployment record, then run certmgr deploy again")
        self._record("failed", line)
        return self._outcome(Outcome.FAILED, line, seen or {})

    def _outcome(self, outcome: Outcome, reason: str, seen: dict[str, Any]) -> SlotOutcome:
        return SlotOutcome(self.target.target, outcome, reason, plan=self.plan,
                           served=seen, deployment_id=self.deployment, detail=self.warnings)

    def _record(self, state: str, reason: str | None = None,
                data: dict[str, Any] | None = None) -> None:
        # A recording failure must not hide the outcome; the journal has what recovery needs.
        with contextlib.suppress(CertmgrError):
            self.engine.recorder.update(self.deployment, state, reason, data)

    def _backup(self) -> list[dict[str, Any]]:
        secret = {f.spec.path: f.secret for f in self.plan.files}
        secret |= {e.spec.path: e.secret for e in self.plan.edits}
        out = []
        found = stat_many(self.host, list(secret), follow_symlinks=False)
        for (path, is_secret), st in zip(secret.items(), found, strict=True):
            data = None
            if st is not None and st.is_file:
                # No symlink followed (as FileTransaction reads): a link swapped in after
                # the lstat is not backed up, and the write refuses it later.
                with contextlib.suppress(HostError):
                    read = self.host.read_link_free(path)
                    data, st = read if read is not None else (None, None)
            out.append({"path": path, "owner": st.owner if st else "", "group":
                        st.group if st else "", "mode": st.mode if st else 0,
                        "existed": st is not None, "data": data, "secret": is_secret})
        return out

    def _meta(self) -> dict[str, str]:
        """What crash recovery needs to reload the program and check the old certificate."""
        target = asdict(self.target)
        target.pop("password", None)
        target["kind"] = self.target.kind.value
        target["endpoints"] = [e.to_json() for e in self.target.endpoints]
        target["shared"] = sorted(self.target.shared)
        return {"meta:target": json.dumps(target, default=str),
                "meta:old": json.dumps(self.old),
                "meta:ldap": json.dumps(self.plan.ldap.to_json() if self.plan.ldap else None),
                "meta:cert": certificates_pem([self.plan.material.cert]).decode(),
                "meta:config-changed": "1" if self.plan.edits else "",
                "meta:deployment": str(self.deployment or "")}


def _not_served(seen: dict[str, str], what: str) -> str:
    parts = [f"{name}: {value[:16] if not value.startswith('error') else value}"
             for name, value in sorted(seen.items())]
    return f"not every endpoint served {what} in time ({'; '.join(parts)})"
