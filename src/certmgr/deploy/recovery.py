"""Finishing what a killed deployment left: restore its files, reload, check the old certificate.

On the next run, every journal record still open is rolled back from the journal
(``fsops.recover_pending``); then the program is reloaded so that it reads the
restored files again, the endpoints are probed for what they served before, and
the repository's deployment record is closed as rolled back.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from certmgr.deploy.control import ServiceControl
from certmgr.deploy.fsops import RecoveryOutcome, recover_pending
from certmgr.deploy.journal import Cipher, JournalStore
from certmgr.deploy.model import DeployPlan, LdapChange, Material, SettingRef, SlotTarget
from certmgr.deploy.record import Recorder
from certmgr.deploy.verify import wait_served
from certmgr.errors import CertmgrError
from certmgr.hosts.base import WritableHost
from certmgr.models import Endpoint
from certmgr.pki import load_bundle
from certmgr.programs import ServiceKind, spec_for
from certmgr.programs.spec import ReloadContext

__all__ = ["Recovered", "recover"]


@dataclass(frozen=True)
class Recovered:
    """One interrupted deployment and what recovery did with it."""

    target: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "ok": self.ok, "detail": self.detail}


def recover(store: JournalStore, cipher: Cipher, recorder: Recorder,
            host_for: Callable[[str], WritableHost | None], *,
            verify_timeout: float = 30.0) -> list[Recovered]:
    """Roll back every interrupted deployment; one failure never stops the others."""
    out = []
    for outcome in recover_pending(store, cipher, host_for):
        out.append(_finish(store, recorder, host_for, outcome, verify_timeout))
    return out


def _finish(store: JournalStore, recorder: Recorder,
            host_for: Callable[[str], WritableHost | None], outcome: RecoveryOutcome,
            verify_timeout: float) -> Recovered:
    label = outcome.label or outcome.txn_id
    if not outcome.ok:
        return Recovered(label, False, f"files not restored: {outcome.error}")
    detail = store.load(outcome.txn_id).detail
    deployment = int(detail["meta:deployment"]) if detail.get("meta:deployment") else None
    host = host_for(outcome.host)
    if "meta:target" not in detail or host is None:
        return Recovered(label, True, "files restored from the journal")
    plan = _plan_from(detail)
    try:
        if host.can_run:
            spec_for(plan.target.kind).reload(ReloadContext(
                host, ServiceControl(host), plan, restoring=True,
                config_changed=bool(detail.get("meta:config-changed"))))
    except CertmgrError as exc:
        return Recovered(label, False, f"files restored, but reloading failed: {exc.message}")
    old = json.loads(detail.get("meta:old", "{}"))
    ok, seen = wait_served(plan.target.endpoints, host.address, old, timeout=verify_timeout,
                           settle=spec_for(plan.target.kind).settle)
    reason = "interrupted; rolled back on the next run"
    with contextlib.suppress(CertmgrError):
        recorder.update(deployment, "rolled_back" if ok else "failed", reason)
    if not ok:
        return Recovered(label, False, f"files restored and reloaded, but the endpoints do not "
                                       f"serve the old certificate: {seen}")
    return Recovered(label, True, "files restored, program reloaded, old certificate served")


def _plan_from(detail: dict[str, str]) -> DeployPlan:
    data = json.loads(detail["meta:target"])
    target = SlotTarget(
        host=data["host"], kind=ServiceKind(data["kind"]), slot_id=data["slot_id"],
        config=data["config"], user=data["user"], group=data["group"],
        endpoints=tuple(Endpoint.from_json(e) for e in data["endpoints"]),
        names=tuple(data["names"]), names_from=data["names_from"], cert=data["cert"],
        key=data["key"], chain=data["chain"], ca=data["ca"], keystore=data["keystore"],
        keystore_type=data["keystore_type"], key_alias=data["key_alias"],
        settings={r: SettingRef(**s) for r, s in data["settings"].items()},
        shared=frozenset(data["shared"]))
    cert = load_bundle(detail["meta:cert"].encode()).certificates[0]
    ldap_data = json.loads(detail.get("meta:ldap", "null"))
    ldap = LdapChange(ldap_data["dn"], ldap_data["new"], ldap_data["old"]) if ldap_data else None
    return DeployPlan(target=target, material=Material("recovery", cert, b""), layout="",
                      dirs=(), files=(), ldap=ldap)
