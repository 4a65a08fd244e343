"""Real pebble 2.10 and BIND 9 for the ``acme`` tests: one of each per session, on loopback.

Outside CI the tests skip (with the reason) when pebble or named is missing; under
``CI=true`` they fail instead (``.ci/install-packages`` installs both).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.testing import skip_or_fail
from certmgr.testing.acme import (
    PEBBLE_DIR,
    Named,
    Pebble,
    find_named,
    find_pebble,
    run_named,
    run_pebble,
)


def _need() -> None:
    if find_pebble() is None:
        skip_or_fail(f"pebble 2.10 is not in {PEBBLE_DIR}: run .ci/install-packages as root")
    if find_named() is None:
        skip_or_fail("BIND 9's named is not installed: apt-get install bind9 dnsutils")


@pytest.fixture(scope="session")
def named(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Named]:
    _need()
    with run_named(tmp_path_factory.mktemp("named")) as server:
        yield server


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory, named: Named) -> Iterator[Pebble]:
    with run_pebble(tmp_path_factory.mktemp("pebble"), named.server) as server:
        yield server


@pytest.fixture
def pebble_root(pebble: Pebble, tmp_path: Path) -> Path:
    """Pebble's root certificate (from its management API), for `openssl verify`."""
    path = tmp_path / "pebble-root.pem"
    path.write_bytes(pebble.root_pem())
    return path
