"""A command loads what it uses: `scan`, `check` and `status` leave the heavy libraries alone.

Each command runs for real in a fresh interpreter (so nothing another test imported
counts); at exit it reports which of the heavy packages it loaded. Timing is
bench/'s job: these tests pin what is loaded, which is what the time follows.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "alembic", "mako", "pygments", "rich", "asyncssh", "jks", "pyasn1",
         "crossplane", "certmgr.programs")
TREE = Path(__file__).parent / "fixtures" / "trees" / "debian12"

_RUN = """
import atexit, json, sys
heavy = json.loads(sys.argv[1])
atexit.register(lambda: sys.stderr.write("\\nLOADED " + json.dumps(sorted(
    ({m.split('.')[0] for m in sys.modules} | set(sys.modules)) & set(heavy))) + "\\n"))
sys.argv = ["certmgr", *sys.argv[2:]]
from certmgr.cli import main
main()
"""


def _loaded(*args: str) -> tuple[int, set[str]]:
    proc = subprocess.run([sys.executable, "-c", _RUN, json.dumps(HEAVY), *args],
                          capture_output=True, text=True, check=False, timeout=120)
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")]
    assert line, proc.stderr
    return proc.returncode, set(json.loads(line[-1].removeprefix("LOADED ")))


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port bound but not listening: connecting there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_scan_json_on_a_new_home_loads_no_heavy_library(tmp_path: Path,
                                                        refused_port: int) -> None:
    home = tmp_path / "home"
    code, loaded = _loaded("--home", str(home), "scan", "--json", "-q",
                           f"127.0.0.1:{refused_port}")
    assert code == 1  # the probe failed: CONNECTION_REFUSED
    assert loaded == set()
    assert not home.exists()  # a scan never creates a home


def test_scan_of_an_ldap_endpoint_still_speaks_ldap(tmp_path: Path, refused_port: int) -> None:
    # pyasn1 is imported when an LDAP dialogue starts; a refused port never gets there.
    code, loaded = _loaded("--home", str(tmp_path / "home"), "scan", "--json", "-q",
                           f"127.0.0.1:{refused_port}/ldap")
    assert code == 1
    assert "pyasn1" not in loaded


def test_check_json_on_a_new_home_opens_no_repository(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, loaded = _loaded("--home", str(home), "check", "--root", str(TREE), "--json")
    assert code == 1  # the fixture tree has problems on purpose
    # check discovers (the programs), pyjks (and its pyasn1) reads the tree's Tomcat
    # keystore, nginx's configuration needs crossplane.
    assert loaded <= {"certmgr.programs", "jks", "pyasn1", "crossplane"}
    assert not home.exists()  # nothing to read in a home never used: nothing created


def test_status_json_loads_no_terminal_library(tmp_path: Path) -> None:
    code, loaded = _loaded("--home", str(tmp_path / "home"), "status", "--json")
    assert code == 0
    assert "rich" not in loaded and "asyncssh" not in loaded and "jks" not in loaded
