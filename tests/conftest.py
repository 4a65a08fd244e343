"""Shared test fixtures. Markers: lab, postgres, ssh, slow (see pyproject.toml)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr import redact
from certmgr.cli import app
from certmgr.cli.app import _register
from certmgr.testing.lab import RunningLab, lab_fixture

_register()

MARKERS_CI_MUST_RUN = ("lab", "postgres", "ssh", "acme", "browser", "ldap")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Record markers in the JUnit report so .ci/run can refuse skipped lab/postgres/ssh tests.
    for item in items:
        names = sorted({m.name for m in item.iter_markers()} & set(MARKERS_CI_MUST_RUN))
        if names:
            item.user_properties.append(("markers", ",".join(names)))


@pytest.fixture(autouse=True)
def _no_machine_home(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches this machine's own certmgr home (``/var/lib/certmgr`` for root,
    ``~/.local/share/certmgr`` otherwise): a command run without ``--home`` gets an
    empty home of its own. Tests of the default itself unset the variable."""
    monkeypatch.setenv("CERTMGR_HOME", str(tmp_path_factory.mktemp("default-home")))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty certmgr home for one test, with the environment pointing at it."""
    path = tmp_path / "home"
    monkeypatch.setenv("CERTMGR_HOME", str(path))
    monkeypatch.delenv("CERTMGR_DB", raising=False)
    monkeypatch.delenv("CERTMGR_PASSPHRASE", raising=False)
    yield path


@pytest.fixture
def cli() -> CliRunner:
    """Runs certmgr commands in-process; ``result.stdout`` and ``result.stderr`` are separate."""
    return CliRunner()


def run_cli(runner: CliRunner, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=input, env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _no_network_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests never reach outside this machine: no proxies that could route elsewhere.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    os.environ.setdefault("COLUMNS", "200")


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    """Each test starts with no remembered secret (certmgr.redact is process-wide)."""
    yield
    redact.forget_all()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningLab]:
    """One running lab (2 hosts, seed layout, six programs) for every lab test of the session."""
    yield from lab_fixture(tmp_path_factory.mktemp("lab"))
