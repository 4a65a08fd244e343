"""Deploy as a batch: rollback's choice of deployment, and a files-only host that no longer
aborts the other hosts' slots (real repository, real files, a real SSH host object)."""

from __future__ import annotations

from pathlib import Path

import pytest

from certmgr.app.deploy import deployments, item_of, rollback_choice
from certmgr.deploy.batch import Job, run_jobs
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.model import Outcome, SlotTarget
from certmgr.errors import UsageError
from certmgr.hosts.local import LocalHost
from certmgr.hosts.ssh import SSHHost
from certmgr.issuers import issue_definition
from certmgr.models import Endpoint, TlsMode
from certmgr.programs import ServiceKind
from certmgr.repository import DeploymentState, Repository
from tests.app.conftest import issue
from tests.deploy.conftest import make_tree
from tests.deploy.material import TestCA

SLOT = "local/apache2:www"


def deployed(repo: Repository, version: int, state: DeploymentState) -> int:
    record = repo.create_deployment("www.example.com", version, SLOT)
    repo.update_deployment(record.id, state)
    return int(record.id)


def test_rollback_goes_back_to_the_verified_deployment_before_the_current(
        repo: Repository) -> None:
    issue(repo, "www.example.com")
    for _ in range(2):
        issue_definition(repo, repo.get_definition("www.example.com"))
    with pytest.raises(UsageError, match="no earlier verified deployment"):
        rollback_choice(repo, SLOT)
    first = deployed(repo, 1, DeploymentState.VERIFIED)
    deployed(repo, 2, DeploymentState.ROLLED_BACK)
    deployed(repo, 3, DeploymentState.VERIFIED)
    choice = rollback_choice(repo, "apache2:www")  # the host defaults to local
    assert (choice.target, choice.definition, choice.version) == (SLOT, "www.example.com", 1)
    assert choice.deployment.id == first
    assert rollback_choice(repo, SLOT, to=first).version == 1
    with pytest.raises(UsageError, match="is not a deployment to"):
        rollback_choice(repo, SLOT, to=9999)
    assert [d.version for d in deployments(repo, SLOT)] == [3, 2, 1]


def target(host: str) -> SlotTarget:
    conf = "/etc/prog/prog.conf"
    return SlotTarget(host=host, kind=ServiceKind.APACHE2, slot_id="apache2:www", config=conf,
                      endpoints=(Endpoint("127.0.0.1", 443, TlsMode.DIRECT),),
                      names=("www.example.com",), cert="/etc/ssl/certs/old.pem",
                      key="/etc/ssl/private/old.key")


def test_a_files_only_host_is_one_refused_item_not_an_aborted_batch(tmp_path: Path) -> None:
    engine = Engine(FileJournalStore(tmp_path / "journal"), KeyFileCipher(tmp_path / "key"),
                    options=EngineOptions(verify_timeout=5))
    tree = tmp_path / "root"
    tree.mkdir()
    make_tree(tree)
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    material = TestCA().material("www.example.com", ("www.example.com",))
    # A real SSH host nobody answers for (port 1 on loopback): its job runs and fails alone.
    ssh = SSHHost("ssh://nobody@127.0.0.1:1", known_hosts=tmp_path / "known_hosts")
    jobs = [Job(LocalHost(root=tree), target("local"), material),
            Job(ssh, target(ssh.name), material)]
    done: list[str] = []
    try:
        outcomes = run_jobs(engine, jobs, on_done=lambda o: done.append(o.target))
    finally:
        ssh.close()
    files_only, unreachable = outcomes
    assert files_only.outcome is Outcome.REFUSED and "files-only tree" in files_only.reason
    assert unreachable.outcome is Outcome.REFUSED
    assert "files-only" not in unreachable.reason and unreachable.reason
    assert sorted(done) == sorted(o.target for o in outcomes)
    assert {p: p.read_bytes() for p in tree.rglob("*") if p.is_file()} == before
    item = item_of(files_only)
    assert (item.item, item.status, item.ok) == (files_only.target, "refused", False)
    assert item.to_json()["outcome"] == "refused"
    # Every job on a files-only tree: the command as a whole is refused (exit 2), as before.
    with pytest.raises(UsageError, match="files-only tree"):
        run_jobs(engine, jobs[:1])
