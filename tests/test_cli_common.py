"""The command line's shared behaviour: help, common options in both positions, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import run_cli


def test_help_lists_commands(cli: CliRunner) -> None:
    code, out, _ = run_cli(cli, "--help")
    assert code == 0
    assert "init" in out


def test_python_dash_m_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "certmgr", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("certmgr ")


def test_root_that_is_not_a_directory_is_one_line_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out, err = run_cli(cli, "init", "--root", str(missing))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert str(missing) in lines[0] and "Traceback" not in err


def test_common_options_before_subcommand_also_apply(cli: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, _, err = run_cli(cli, "--root", str(missing), "init")
    assert code == 2
    assert str(missing) in err
