"""The seed's Part 2 on the lab: from Debian's shared snakeoil pair to per-program files."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.deploy.batch import Job, run_jobs
from certmgr.deploy.engine import Engine
from certmgr.deploy.model import Outcome, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.hosts.lab import LabHost
from certmgr.programs import ServiceKind, discover_host
from certmgr.programs.slapd import ATTRIBUTES
from certmgr.testing.faults import at_checkpoint
from certmgr.testing.lab import RunningLab, running_lab
from tests.deploy.lab_support import TABLE1_KEY, material_for, served
from tests.deploy.material import TestCA

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SNAKEOIL = ("/etc/ssl/certs/ssl-cert-snakeoil.pem", "/etc/ssl/private/ssl-cert-snakeoil.key")
CONFIG_DIRS = {ServiceKind.SLAPD: "/etc/ldap", ServiceKind.APACHE2: "/etc/apache2",
               ServiceKind.VSFTPD: "/etc/vsftpd", ServiceKind.POSTFIX: "/etc/postfix",
               ServiceKind.DOVECOT: "/etc/dovecot", ServiceKind.TOMCAT: "/etc/tomcat10"}


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with tempfile.TemporaryDirectory(prefix="certmgr-migrate-lab-") as tmp:
        yield from running_lab(Path(tmp) / "lab", hosts=1, layout="debian")


def targets(host: LabHost) -> dict[ServiceKind, SlotTarget]:
    return {t.kind: t for t in slot_targets(host.name, discover_host(host).slots())
            if t.kind in CONFIG_DIRS}


def digest(host: LabHost, path: str) -> str:
    return hashlib.sha256(host.read_bytes(path)).hexdigest()


def test_a_failure_during_the_migration_rolls_the_config_edit_back(
        lab: RunningLab, engine: Engine) -> None:
    host = lab.hosts[0]
    target = targets(host)[ServiceKind.POSTFIX]
    assert target.shared  # on the snakeoil pair, shared with the others
    main_cf = host.read_bytes("/etc/postfix/main.cf")
    before = served(host, ServiceKind.POSTFIX)
    material = material_for(TestCA(), target)

    def corrupt() -> None:
        host.local_path(f"/etc/postfix/ssl/private/{material.definition}.key").write_bytes(
            b"garbage\n")

    with at_checkpoint("reload", corrupt):
        outcome = engine.deploy(host, target, material)
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert outcome.plan is not None and outcome.plan.edits
    assert host.read_bytes("/etc/postfix/main.cf") == main_cf
    assert not host.exists("/etc/postfix/ssl")
    assert served(host, ServiceKind.POSTFIX) == before


def test_every_program_moves_to_its_own_files(lab: RunningLab, engine: Engine) -> None:
    host = lab.hosts[0]
    snakeoil = {p: digest(host, p) for p in SNAKEOIL}
    ca = TestCA()
    found = targets(host)
    jobs = [Job(host, t, material_for(ca, t)) for t in found.values()]
    outcomes = run_jobs(engine, jobs)
    assert [(o.target, o.outcome) for o in outcomes] == \
        [(o.target, Outcome.VERIFIED) for o in outcomes], [o.reason for o in outcomes]
    assert {p: digest(host, p) for p in SNAKEOIL} == snakeoil  # the shared pair untouched
    for job, outcome in zip(jobs, outcomes, strict=True):
        assert outcome.plan is not None and outcome.plan.layout == "seed"
        assert set(served(host, job.target.kind).values()) == {outcome.plan.fingerprint}
    after = targets(host)  # discovery now reads the edited configuration
    for kind, target in after.items():
        assert not target.shared, kind
        key = target.keystore or target.key
        assert key is not None and key.startswith(CONFIG_DIRS[kind] + "/ssl/private/"), key
        st = host.stat(key)
        assert st is not None and (st.owner, st.group, st.mode) == TABLE1_KEY[kind]
    slapd = host.run(["slapcat", "-n0", "-F", "/etc/ldap/slapd.d", "-a",
                      "(objectClass=olcGlobal)"]).stdout
    assert f"{ATTRIBUTES['key']}: /etc/ldap/ssl/private/" in slapd
