"""nginx and haproxy on a lab host, for real: the lab runs them as Debian does, deploy
switches each to a CA-issued chain with a reload (not a restart), and faults end
with the old certificate still served.

One module-scoped lab host with only these two programs (they are not in the lab's
default set, the seed's six).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.deploy.batch import Job, run_jobs
from certmgr.deploy.control import ServiceControl
from certmgr.deploy.engine import Engine
from certmgr.deploy.model import Material, Outcome, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.deploy.verify import served_now
from certmgr.hosts.base import WritableHost
from certmgr.hosts.lab import LabHost
from certmgr.hosts.ssh import SSHHost
from certmgr.lab import lab_down, lab_status, lab_up
from certmgr.lab.programs import SNAKEOIL_CERT, SNAKEOIL_KEY
from certmgr.pki import load_bundle
from certmgr.programs import ServiceKind, discover_host
from certmgr.testing import skip_or_fail
from certmgr.testing.faults import at_checkpoint
from certmgr.testing.lab import RunningLab, running_lab
from tests.deploy.lab_support import corrupt_key, kill_program, program_endpoints, served
from tests.deploy.material import TestCA

pytestmark = [pytest.mark.lab, pytest.mark.slow]

KINDS = [ServiceKind.NGINX, ServiceKind.HAPROXY]
PORTS = {ServiceKind.NGINX: 4431, ServiceKind.HAPROXY: 4432}
# Debian's: the master as root, the workers as the program's own user.
WORKER_USER = {ServiceKind.NGINX: "www-data", ServiceKind.HAPROXY: "haproxy"}
_SBIN = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _webproxy_lab(layout: str) -> Iterator[RunningLab]:
    missing = [b for b in ("nginx", "haproxy") if shutil.which(b, path=_SBIN) is None]
    if missing:
        skip_or_fail(f"the web proxy lab needs {', '.join(missing)} "
                     "(run .ci/install-packages as root)")
    with tempfile.TemporaryDirectory(prefix=f"certmgr-webproxy-{layout}-") as tmp:
        yield from running_lab(Path(tmp) / "lab", layout=layout, programs=["nginx", "haproxy"])


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    """One host, the seed layout: each program its own self-signed pair."""
    yield from _webproxy_lab("seed")


@pytest.fixture(scope="module")
def debian_lab() -> Iterator[RunningLab]:
    """One host, Debian's layout: nginx on the snakeoil pair, haproxy on a combined copy of
    it in /etc/ssl/private (the start of the seed's migration)."""
    yield from _webproxy_lab("debian")


def target(host: WritableHost, kind: ServiceKind) -> SlotTarget:
    (found,) = [t for t in slot_targets(host.name, discover_host(host).slots())
                if t.kind is kind]
    return found


def material(ca: TestCA, slot: SlotTarget, **faults: bool) -> Material:
    names = tuple(dict.fromkeys(("www.example.com", *slot.names)))
    return ca.material(names[0], names, **faults)


def master_pid(host: WritableHost, kind: ServiceKind) -> int:
    pid = ServiceControl(host).main_pid(kind.value)
    assert pid is not None
    return pid


def users_of(host: LabHost, pid: int, *, children: bool) -> set[str]:
    argv = ["ps", "-o", "user=", "--ppid" if children else "-p", str(pid)]
    return set(host.run(argv).stdout.split())


def test_the_lab_runs_both_as_debian_does_only_when_asked(lab: RunningLab,
                                                          tmp_path: Path) -> None:
    host = lab.hosts[0]
    status = lab_status(lab.dir)
    assert status is not None
    programs = {p["kind"]: p for p in status["hosts"][0]["programs"]}
    for kind in KINDS:
        prog = programs[kind.value]
        assert prog["pid"] == master_pid(host, kind)
        assert [e["port"] for e in prog["endpoints"]] == [PORTS[kind]]
        assert prog["sha256"] == prog["expected_sha256"] == lab.expected("lab1", kind.value)
        assert users_of(host, prog["pid"], children=False) == {"root"}
        assert users_of(host, prog["pid"], children=True) == {WORKER_USER[kind]}
    # Not in the default set: a lab asked for nothing runs the seed's six.
    default = lab_up(tmp_path / "files", files_only=True)
    lab_down(tmp_path / "files")
    assert "nginx" not in default.programs and "haproxy" not in default.programs
    assert len(default.programs) == 6


def test_deploy_switches_both_to_the_ca_chain_with_a_reload(lab: RunningLab, engine: Engine,
                                                            ca: TestCA) -> None:
    host = lab.hosts[0]
    pids = {kind: master_pid(host, kind) for kind in KINDS}
    jobs = [Job(host, t, material(ca, t)) for t in (target(host, k) for k in KINDS)]
    for job in jobs:
        plan = engine.plan(host, job.target, job.material)
        assert "reload" in plan.reload and "restart" not in plan.reload
    outcomes = run_jobs(engine, jobs)
    assert [(o.outcome, o.reason) for o in outcomes] == [(Outcome.VERIFIED, "")] * 2
    chain = ca.intermediate.public_bytes(Encoding.DER)
    for job in jobs:
        kind, slot = job.target.kind, job.target
        leaf = job.material.cert.public_bytes(Encoding.DER)
        for result in served_now(program_endpoints(host, kind), host.address).values():
            assert result.ok and result.chain == (leaf, chain), kind  # leaf + intermediate
        assert master_pid(host, kind) == pids[kind]  # reloaded, not restarted
        assert slot.key is not None
        st = host.stat(slot.key)
        assert st is not None and (st.owner, st.group, st.mode) == ("root", "root", 0o600)
        private = host.stat(os.path.dirname(slot.key))
        assert private is not None and private.mode == 0o700
    (haproxy,) = [j for j in jobs if j.target.kind is ServiceKind.HAPROXY]
    assert haproxy.target.cert == haproxy.target.key  # one combined PEM
    combined = load_bundle(host.read_bytes(haproxy.target.cert or ""))
    assert combined.key is not None and [c.public_bytes(Encoding.DER)
                                         for c in combined.certificates][:2] == \
        [haproxy.material.cert.public_bytes(Encoding.DER), chain]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.value)
def test_faults_leave_the_program_up_serving_the_old_certificate(
        lab: RunningLab, engine: Engine, ca: TestCA, kind: ServiceKind) -> None:
    host = lab.hosts[0]
    slot = target(host, kind)
    before = served(host, kind)
    assert None not in before.values()
    pid = master_pid(host, kind)
    for fault in ("mismatched", "encrypted"):
        outcome = engine.deploy(host, slot, material(ca, slot, **{fault: True}))
        assert outcome.outcome is Outcome.REFUSED, (fault, outcome.reason)
        assert served(host, kind) == before
    with at_checkpoint("reload", corrupt_key(host, slot.key or "")) as reached:
        outcome = engine.deploy(host, slot, material(ca, slot))
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert f"{'nginx -t' if kind is ServiceKind.NGINX else 'haproxy -c'}" in outcome.reason
    assert {"reload", "rollback-verify"} <= set(reached)
    assert served(host, kind) == before  # the old fingerprint, handshake completed
    assert master_pid(host, kind) == pid  # never went down
    with at_checkpoint("reload", kill_program(host, lambda: master_pid(host, kind))):
        outcome = engine.deploy(host, slot, material(ca, slot))
    # The reload finds no program and starts it: the new files, verified.
    assert outcome.outcome is Outcome.VERIFIED, outcome.reason
    assert outcome.plan is not None
    assert set(served(host, kind).values()) == {outcome.plan.fingerprint}
    assert master_pid(host, kind) != pid


def test_over_ssh_the_same_engine_reloads_both(lab: RunningLab, engine: Engine,
                                               ca: TestCA) -> None:
    url = f"ssh://root@{lab.hosts[0].address}"
    with SSHHost(url, key=lab.state.ssh_key, known_hosts=lab.state.known_hosts) as host:
        pids = {kind: master_pid(host, kind) for kind in KINDS}
        jobs = [Job(host, target(host, kind), material(ca, target(host, kind)))
                for kind in KINDS]
        outcomes = run_jobs(engine, jobs)
        assert [(o.outcome, o.reason) for o in outcomes] == [(Outcome.VERIFIED, "")] * 2
        for job, outcome in zip(jobs, outcomes, strict=True):
            assert outcome.plan is not None
            assert set(served(host, job.target.kind).values()) == {outcome.plan.fingerprint}
            assert master_pid(host, job.target.kind) == pids[job.target.kind]


def test_migration_off_the_shared_snakeoil_files_edits_both_configs(
        debian_lab: RunningLab, engine: Engine, ca: TestCA) -> None:
    host = debian_lab.hosts[0]
    site, cfg = "/etc/nginx/sites-available/certmgr-lab-ssl", "/etc/haproxy/haproxy.cfg"
    configs = {path: host.read_bytes(path) for path in (site, cfg)}
    shared = {path: host.read_bytes(path) for path in
              (SNAKEOIL_CERT, SNAKEOIL_KEY, "/etc/ssl/private/ssl-cert-snakeoil-combined.pem")}
    slots = {kind: target(host, kind) for kind in KINDS}
    assert slots[ServiceKind.NGINX].cert == SNAKEOIL_CERT
    before = {kind: served(host, kind) for kind in KINDS}
    # A failure during the migration (the new key corrupted before the reload): the
    # edited configurations come back byte for byte, the old pair is served.
    nginx = slots[ServiceKind.NGINX]
    new_key = f"/etc/nginx/ssl/private/{material(ca, nginx).definition}.key"
    with at_checkpoint("reload", corrupt_key(host, new_key)):
        outcome = engine.deploy(host, nginx, material(ca, nginx))
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert host.read_bytes(site) == configs[site]
    assert served(host, ServiceKind.NGINX) == before[ServiceKind.NGINX]
    jobs = [Job(host, slot, material(ca, slot)) for slot in slots.values()]
    outcomes = run_jobs(engine, jobs)
    assert [(o.outcome, o.reason) for o in outcomes] == [(Outcome.VERIFIED, "")] * 2
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert outcome.plan is not None and outcome.plan.layout == "seed"
        assert set(served(host, job.target.kind).values()) == {outcome.plan.fingerprint}
    name = jobs[0].material.definition
    moved = {kind: target(host, kind) for kind in KINDS}
    assert (moved[ServiceKind.NGINX].cert, moved[ServiceKind.NGINX].key) == \
        (f"/etc/nginx/ssl/certs/{name}.crt", f"/etc/nginx/ssl/private/{name}.key")
    assert moved[ServiceKind.HAPROXY].cert == f"/etc/haproxy/ssl/private/{name}.pem"
    for slot in moved.values():
        st = host.stat(slot.key or "")
        assert st is not None and (st.owner, st.group, st.mode) == ("root", "root", 0o600)
    # The edits change only the paths: every comment and every other line is kept.
    for path, old in configs.items():
        changed = [(a, b) for a, b in zip(old.decode().splitlines(),
                                          host.read_bytes(path).decode().splitlines(),
                                          strict=True) if a != b]
        assert 1 <= len(changed) <= 2 and all("/etc/ssl/" in a for a, _ in changed), changed
    assert {path: host.read_bytes(path) for path in shared} == shared  # never overwritten
