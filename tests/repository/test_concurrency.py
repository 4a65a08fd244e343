"""Several processes share one SQLite repository (monitor, web console, CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from certmgr.repository import open_repository

WRITER = """
import sys
from pathlib import Path
from certmgr.repository import open_repository
with open_repository(None, Path(sys.argv[1])) as repo:
    for i in range(40):
        repo.upsert_host(f"{sys.argv[2]}-{i}", "lab")
        repo.record_event("test.write", sys.argv[2])
"""


def test_concurrent_writers_all_succeed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    open_repository(None, home).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(home), f"w{n}"],
                              stderr=subprocess.PIPE, text=True) for n in range(3)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
    with open_repository(None, home) as repo:
        assert len(repo.list_hosts()) == 120
        assert len(repo.list_audit(action="test.write", limit=1000)) == 120
