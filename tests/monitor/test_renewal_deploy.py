"""The renewal deployer's own decisions: hosts and slots it cannot use are failed outcomes.

Deploying for real (reload, verify by probe) is tested on the lab in
``test_renewal_lab.py``; here the host is a files-only copy of a Debian 12 tree.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from certmgr.errors import UsageError
from certmgr.issuers.definitions import make_definition
from certmgr.issuers.store import init_builtin_ca
from certmgr.monitor.renewal import RenewalStatus, Renewer, RetryPolicy, issue_with_issuer
from certmgr.monitor.renewal_deploy import EngineDeployer
from certmgr.monitor.settings import RetrySettings
from certmgr.monitor.state import StateFile
from certmgr.repository import CertificateRecord, DefinitionRecord, Repository, open_repository

TREE = Path(__file__).parents[1] / "fixtures" / "trees" / "debian12"


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    with open_repository(None, tmp_path / "home") as repository:
        init_builtin_ca(repository)
        yield repository


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(TREE, root, symlinks=True)
    return root


def issued(repo: Repository, *targets: str) -> tuple[DefinitionRecord, CertificateRecord]:
    definition = repo.save_definition(make_definition(
        "www", "www.example.com", validity=timedelta(days=30),
        renew_before=timedelta(days=10), targets=targets))
    return definition, issue_with_issuer(repo)(definition)


def deployer(repo: Repository, tmp_path: Path, tree: Path) -> EngineDeployer:
    return EngineDeployer(repo, tmp_path / "home", root=tree)


def test_unknown_host_and_missing_slot_are_failed_outcomes(repo: Repository, tmp_path: Path,
                                                           tree: Path) -> None:
    definition, cert = issued(repo, "local/no-such-slot", "web9/apache2:_default_")
    outcomes = deployer(repo, tmp_path, tree).deploy(definition, cert)
    assert sorted((o.target, o.ok) for o in outcomes) == [("local/no-such-slot", False),
                                                          ("web9/apache2:_default_", False)]
    why = {o.target: o.error or "" for o in outcomes}
    assert "certmgr discover" in why["local/no-such-slot"]
    assert "web9" in why["web9/apache2:_default_"]


def test_a_files_only_host_cannot_take_a_renewal(repo: Repository, tmp_path: Path,
                                                 tree: Path) -> None:
    definition, cert = issued(repo, "local/apache2:_default_")
    with pytest.raises(UsageError, match="files-only tree"):
        deployer(repo, tmp_path, tree).deploy(definition, cert)


def test_the_renewer_reports_what_the_engine_refused(repo: Repository, tmp_path: Path,
                                                     tree: Path) -> None:
    _definition, first = issued(repo, "local/no-such-slot")
    renewer = Renewer(repo, issue_with_issuer(repo), deployer(repo, tmp_path, tree),
                      StateFile(tmp_path / "state.json"), RetryPolicy(RetrySettings()),
                      clock=lambda: first.not_after)
    [result] = renewer.run()
    assert result.status is RenewalStatus.FAILED and result.stage == "deploy"
    assert result.error is not None and "local/no-such-slot" in result.error
