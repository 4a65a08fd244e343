"""Deploy on the lab: the seed scenario, real faults per program, and over SSH.

One lab of two seed-layout hosts for the module (its certificates are changed
by these tests, so it is not the session lab other tests compare against).
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from certmgr.deploy.batch import Job, run_jobs
from certmgr.deploy.checkpoints import add_hook
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.engine import Engine
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.model import Outcome, SlotTarget
from certmgr.deploy.record import NullRecorder
from certmgr.deploy.recovery import recover
from certmgr.deploy.targets import slot_targets
from certmgr.deploy.verify import wait_served
from certmgr.hosts.base import WritableHost
from certmgr.hosts.ssh import SSHHost
from certmgr.pki import load_bundle
from certmgr.programs import ServiceKind, discover_host
from certmgr.testing.faults import at_checkpoint, kill_hook
from certmgr.testing.lab import RunningLab, running_lab
from tests.deploy.lab_support import (
    TABLE1_KEY,
    corrupt_key,
    kill_program,
    material_for,
    program_endpoints,
    served,
)
from tests.deploy.material import TestCA

pytestmark = [pytest.mark.lab, pytest.mark.slow]

KINDS = list(TABLE1_KEY)


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with tempfile.TemporaryDirectory(prefix="certmgr-deploy-lab-") as tmp:
        yield from running_lab(Path(tmp) / "lab", hosts=2)


def targets(host: WritableHost, kinds: list[ServiceKind] | None = None) -> list[SlotTarget]:
    found = slot_targets(host.name, discover_host(host).slots())
    return [t for t in found if kinds is None or t.kind in kinds]


def deploy_all(engine: Engine, host: WritableHost, ca: TestCA) -> dict[ServiceKind, str]:
    jobs = [Job(host, t, material_for(ca, t)) for t in targets(host, KINDS)]
    assert sorted(j.target.kind.value for j in jobs) == sorted(k.value for k in KINDS)
    outcomes = run_jobs(engine, jobs)
    assert [(o.target, o.outcome, o.reason) for o in outcomes] == \
        [(o.target, Outcome.VERIFIED, "") for o in outcomes]
    return {j.target.kind: o.plan.fingerprint for j, o in zip(jobs, outcomes, strict=True)
            if o.plan is not None}


def test_seed_scenario_all_six_programs_switch_to_the_ca_issued_certificate(
        lab: RunningLab, engine: Engine, ca: TestCA) -> None:
    host = lab.hosts[0]
    new = deploy_all(engine, host, ca)
    for kind, fingerprint in new.items():
        assert fingerprint != lab.expected(host.info.name, kind.value)
        served_now = served(host, kind)
        assert len(served_now) == len(program_endpoints(host, kind))
        assert set(served_now.values()) == {fingerprint}, kind  # every port, handshake done
    for target in targets(host, KINDS):
        key_path = target.keystore or target.key
        assert key_path is not None
        st = host.stat(key_path)
        assert st is not None and (st.owner, st.group, st.mode) == TABLE1_KEY[target.kind]
        private = host.stat(os.path.dirname(key_path))
        assert private is not None and private.mode in (0o700, 0o750)
    table_key = load_bundle(host.read_bytes("/etc/tomcat10/ssl/private/www2.example.com.jks"),
                            "changeit")
    assert table_key.key is not None


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_real_faults_leave_the_program_serving_the_old_certificate(
        lab: RunningLab, engine: Engine, ca: TestCA, kind: ServiceKind) -> None:
    host = lab.hosts[0]
    (target,) = targets(host, [kind])
    before = served(host, kind)
    assert None not in before.values()
    for fault in ("mismatched", "encrypted"):
        outcome = engine.deploy(host, target, material_for(ca, target, **{fault: True}))
        assert outcome.outcome is Outcome.REFUSED, (fault, outcome.reason)
        assert served(host, kind) == before
    with at_checkpoint("reload", corrupt_key(host, target.keystore or target.key or "")) as reached:
        outcome = engine.deploy(host, target, material_for(ca, target))
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert {"reload", "rollback-step", "rollback-verify"} <= set(reached)
    assert served(host, kind) == before  # the old fingerprint, handshake completed
    main_pid = ServiceControl(host).main_pid
    with at_checkpoint("reload", kill_program(host, lambda: main_pid(kind.value))):
        outcome = engine.deploy(host, target, material_for(ca, target))
    assert outcome.outcome in (Outcome.VERIFIED, Outcome.ROLLED_BACK), outcome.reason
    expected = outcome.plan.fingerprint if outcome.outcome is Outcome.VERIFIED else None
    now = served(host, kind)
    assert set(now.values()) == ({expected} if expected else set(before.values())), outcome


def test_over_ssh_the_same_engine_deploys_all_six(lab: RunningLab, engine: Engine,
                                                  ca: TestCA) -> None:
    lab_host = lab.hosts[1]
    url = f"ssh://root@{lab_host.address}"
    with SSHHost(url, key=lab.state.ssh_key, known_hosts=lab.state.known_hosts) as host:
        new = deploy_all(engine, host, ca)
        for kind, fingerprint in new.items():
            assert set(served(host, kind).values()) == {fingerprint}, kind
            target = targets(host, [kind])[0]
            st = host.stat(target.keystore or target.key or "")
            assert st is not None and (st.owner, st.group, st.mode) == TABLE1_KEY[kind]


def test_a_deploy_killed_after_reload_is_rolled_back_by_the_next_run(
        lab: RunningLab, tmp_path: Path, ca: TestCA) -> None:
    host = lab.hosts[0]
    (target,) = targets(host, [ServiceKind.APACHE2])
    before = served(host, ServiceKind.APACHE2)
    store, cipher = FileJournalStore(tmp_path / "journal"), KeyFileCipher(tmp_path / "key")
    material = material_for(ca, target)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child, killed at "verify" after the reload
        try:
            add_hook(kill_hook("verify"))
            Engine(store, cipher).deploy(host, target, material)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    fingerprint = material.cert.fingerprint(hashes.SHA256()).hex()
    # The child died right after its graceful reload, which takes effect asynchronously.
    endpoints = program_endpoints(host, ServiceKind.APACHE2)
    ok, seen = wait_served(endpoints, host.address, dict.fromkeys(before, fingerprint),
                           timeout=30)
    assert ok, seen
    (result,) = recover(store, cipher, NullRecorder(), lambda name: host)
    assert result.ok, result.detail
    assert served(host, ServiceKind.APACHE2) == before
    assert store.pending() == []
