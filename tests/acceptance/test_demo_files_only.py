"""`certmgr demo --files-only`: the same story without root or running programs (make demo's
fallback), which must still pass and say which steps it skipped."""

from __future__ import annotations

from pathlib import Path

from certmgr.demo.runner import certmgr


def test_files_only_demo_passes_and_names_the_skipped_step(tmp_path: Path) -> None:
    run = certmgr(tmp_path, "demo", "--files-only")
    assert run.returncode == 0, run.stderr
    data = run.data
    assert data["ok"] and data["files_only"]
    steps = {s["number"]: s for s in data["steps"]}
    assert sorted(steps) == list(range(1, 9))
    assert [n for n, s in steps.items() if s["skipped"]] == [7]
    assert "no programs" in steps[7]["skipped"]
    assert "planned only" in steps[6]["summary"]
    assert data["home"] is None  # removed: nothing kept without --keep
