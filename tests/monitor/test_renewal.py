"""Renewal against a real repository and the real built-in CA; the deploy seam is recorded."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certmgr.errors import DeployError
from certmgr.issuers.definitions import make_definition
from certmgr.issuers.store import init_builtin_ca
from certmgr.monitor.notify import EventKind, utcnow
from certmgr.monitor.renewal import (
    DeployOutcome,
    RenewalStatus,
    Renewer,
    RetryPolicy,
    due_renewals,
    issue_with_issuer,
    renewal_problems,
)
from certmgr.monitor.settings import RetrySettings
from certmgr.monitor.state import StateFile
from certmgr.repository import CertificateRecord, DefinitionRecord, Repository, open_repository

TARGETS = ("lab1/nginx-www", "lab1/apache2-www")


class RecordingDeployer:
    """Stands in for the deploy engine: records calls, fails the targets it is told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.failing: set[str] = set()
        self.explode: DeployError | None = None

    def deploy(self, definition: DefinitionRecord,
               certificate: CertificateRecord) -> Sequence[DeployOutcome]:
        self.calls.append((definition.name, certificate.version))
        if self.explode is not None:
            raise self.explode
        return [DeployOutcome(t, t not in self.failing,
                              "verify: old certificate still served" if t in self.failing
                              else None) for t in definition.targets]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    with open_repository(None, tmp_path / "home") as repository:
        init_builtin_ca(repository)
        yield repository


_count = iter(range(1000))


def define(repo: Repository, *, issuer: str = "builtin", targets: Sequence[str] = TARGETS,
           renew_before: timedelta = timedelta(days=15),
           ) -> tuple[DefinitionRecord, CertificateRecord]:
    """A definition whose first version (10 days) is already inside a 15-day window.

    The renewed versions last 30 days, so they are outside the window again:
    the tests use the real time, the certificates being issued at it.
    """
    name = f"www{next(_count)}"
    first = issue_with_issuer(repo)(repo.save_definition(make_definition(
        name, f"{name}.example.com", validity=timedelta(days=10),
        renew_before=timedelta(days=1), targets=targets)))
    definition = repo.save_definition(make_definition(
        name, f"{name}.example.com", validity=timedelta(days=30), renew_before=renew_before,
        targets=targets, issuer=issuer))
    return definition, first


def renewer(repo: Repository, tmp_path: Path, deployer: RecordingDeployer | None,
            clock: Clock, jitter: float = 0.0) -> Renewer:
    policy = RetryPolicy(RetrySettings(base=timedelta(seconds=10), cap=timedelta(seconds=60),
                                       jitter=jitter), random.Random(7))
    return Renewer(repo, issue_with_issuer(repo), deployer, StateFile(tmp_path / "state.json"),
                   policy, clock)


def only(results: list, name: str) -> list:  # type: ignore[type-arg]
    return [r for r in results if r.definition == name]


def test_renews_once_inside_the_window(repo: Repository, tmp_path: Path) -> None:
    definition, first = define(repo, renew_before=timedelta(days=5))
    clock = Clock(utcnow())
    deployer = RecordingDeployer()
    r = renewer(repo, tmp_path, deployer, clock)
    assert only(r.run(), definition.name) == []
    clock.now = first.not_after - timedelta(days=5) + timedelta(seconds=1)
    [result] = only(r.run(), definition.name)
    assert result.status is RenewalStatus.RENEWED and result.version == first.version + 1
    assert [d.target for d in result.deployed] == list(TARGETS)
    current = repo.current_certificate(definition.name)
    assert current is not None and current.serial == result.serial != first.serial
    assert only(r.run(), definition.name) == []  # the new version is outside its window
    assert deployer.calls == [(definition.name, first.version + 1)]


def test_failed_deploy_backs_off_and_redeploys_without_reissuing(repo: Repository,
                                                                  tmp_path: Path) -> None:
    definition, first = define(repo)
    clock = Clock(utcnow())
    deployer = RecordingDeployer()
    deployer.failing = {TARGETS[1]}
    r = renewer(repo, tmp_path, deployer, clock)
    [failed] = only(r.run(), definition.name)
    assert failed.status is RenewalStatus.FAILED and failed.stage == "deploy"
    assert failed.failures == 1 and failed.next_attempt == clock.now + timedelta(seconds=10)
    assert failed.error is not None and "lab1/apache2-www: verify" in failed.error
    [problem] = [p for p in renewal_problems(r.state) if definition.name in p.subject]
    assert problem.kind is EventKind.DEPLOY_FAILED

    clock.now += timedelta(seconds=5)
    [waiting] = only(r.run(), definition.name)
    assert waiting.status is RenewalStatus.WAITING and len(deployer.calls) == 1

    clock.now += timedelta(seconds=5)
    [again] = only(r.run(), definition.name)
    assert again.status is RenewalStatus.FAILED and again.failures == 2
    assert again.next_attempt == clock.now + timedelta(seconds=20)

    deployer.failing = set()
    clock.now += timedelta(seconds=20)
    [done] = only(r.run(), definition.name)
    assert done.status is RenewalStatus.RENEWED and done.stage == "deploy"
    # One new version only: the retries redeployed it, they did not issue more.
    assert {v for _, v in deployer.calls} == {first.version + 1}
    current = repo.current_certificate(definition.name)
    assert current is not None and current.version == first.version + 1
    assert not [p for p in renewal_problems(r.state) if definition.name in p.subject]


def test_issuer_failure_is_reported_and_retried(repo: Repository, tmp_path: Path) -> None:
    definition, _first = define(repo, issuer="no-such-ca")
    clock = Clock(utcnow())
    r = renewer(repo, tmp_path, RecordingDeployer(), clock)
    [failed] = only(r.run(), definition.name)
    assert failed.status is RenewalStatus.FAILED and failed.stage == "issue"
    assert failed.error is not None and "no-such-ca" in failed.error
    [problem] = [p for p in renewal_problems(r.state) if definition.name in p.subject]
    assert problem.kind is EventKind.RENEWAL_FAILED
    assert "failed (1 attempt)" in problem.message


def test_without_deploy_engine_the_failure_says_what_to_run(repo: Repository,
                                                            tmp_path: Path) -> None:
    definition, first = define(repo)
    r = renewer(repo, tmp_path, None, Clock(utcnow()))
    [failed] = only(r.run(), definition.name)
    assert failed.stage == "deploy" and failed.version == first.version + 1
    assert failed.error is not None and f"certmgr deploy {definition.name}" in failed.error


def test_deploy_engine_refusing_is_a_failure(repo: Repository, tmp_path: Path) -> None:
    definition, _first = define(repo)
    deployer = RecordingDeployer()
    deployer.explode = DeployError("preflight: key does not match", slot="nginx-www")
    r = renewer(repo, tmp_path, deployer, Clock(utcnow()))
    [failed] = only(r.run(), definition.name)
    assert failed.status is RenewalStatus.FAILED
    assert failed.error == "preflight: key does not match"


def test_definition_without_targets_is_only_reissued(repo: Repository, tmp_path: Path) -> None:
    definition, _first = define(repo, targets=())
    deployer = RecordingDeployer()
    r = renewer(repo, tmp_path, deployer, Clock(utcnow()))
    [done] = only(r.run(), definition.name)
    assert done.status is RenewalStatus.RENEWED and deployer.calls == []


def test_due_renewals_names_expired_and_open_windows(repo: Repository) -> None:
    _definition, first = define(repo)
    due = due_renewals(repo, first.not_after + timedelta(seconds=1))
    assert [d.stage for d in due] == ["issue"] and "expired" in due[0].reason
    [soon] = due_renewals(repo, utcnow())
    assert "renewal window open" in soon.reason
    assert due_renewals(repo, first.not_after - timedelta(days=16)) == []


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    exact = RetryPolicy(RetrySettings(timedelta(seconds=10), timedelta(seconds=60), 0.0))
    assert [exact.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]
    jittered = RetryPolicy(RetrySettings(timedelta(seconds=10), timedelta(seconds=60), 0.5),
                           random.Random(1))
    delays = [jittered.delay(3).total_seconds() for _ in range(50)]
    assert all(20 <= d <= 40 for d in delays) and len(set(delays)) > 1


def test_now_is_aware() -> None:
    # Certificates carry aware UTC times; the renewer's default clock must too.
    assert utcnow().tzinfo is UTC
