"""The command line's shared behaviour: help, common options in both positions, errors."""

from __future__ import annotations

import json
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


def test_command_index_names_every_command_and_group() -> None:
    from certmgr.cli.app import COMMAND_INDEX, COMMAND_MODULES, app

    registered: dict[str, str] = {}
    for info in app.registered_commands:
        assert info.callback is not None
        registered[info.name or info.callback.__name__] = info.callback.__module__
    for group in app.registered_groups:
        sub = group.typer_instance
        assert sub is not None and group.name
        modules = {c.callback.__module__ for c in sub.registered_commands if c.callback}
        assert len(modules) == 1, (group.name, modules)
        registered[group.name] = modules.pop()
    assert registered == COMMAND_INDEX
    assert set(COMMAND_INDEX.values()) == set(COMMAND_MODULES)


def test_a_command_line_imports_only_its_commands_module() -> None:
    code = ("import sys; from certmgr.cli.app import _register; "
            "_register(['--home', 'deploy', 'list', '--json']); "
            "print(sorted(m for m in sys.modules if m.startswith('certmgr.cli.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    loaded = proc.stdout.strip()
    assert "certmgr.cli.pki_commands" in loaded
    assert "certmgr.cli.deploy_commands" not in loaded  # 'deploy' was --home's value
    assert "certmgr.cli.lab_commands" not in loaded


def _root_help(*, all_modules: bool) -> tuple[str, list[str]]:
    code = ("import json, sys\nfrom certmgr.cli.app import _register, app\n"
            f"_register(None if {all_modules} else ['--help'])\n"
            "sys.argv = ['certmgr', '--help']\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write(json.dumps(sorted(m for m in sys.modules "
            "if m.startswith('certmgr.cli.') or m.split('.')[0] == 'sqlalchemy')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"COLUMNS": "150", "PATH": "/usr/bin:/bin"})
    return proc.stdout, json.loads(proc.stderr)


def test_root_help_from_summaries_is_the_modules_own() -> None:
    # `certmgr --help` lists the commands from COMMAND_SUMMARIES without importing their
    # modules (with a command missing there, it imports them all: slower, still right).
    # If this fails after a command's docstring changed: copy the new first paragraph of
    # its help into COMMAND_SUMMARIES in src/certmgr/cli/app.py.
    from certmgr.cli.app import COMMAND_INDEX, COMMAND_SUMMARIES

    lazy, lazy_loaded = _root_help(all_modules=False)
    full, full_loaded = _root_help(all_modules=True)
    assert lazy == full, "COMMAND_SUMMARIES in cli/app.py differs from the commands' help"
    assert "Commands" in lazy and "definitions" in lazy
    assert "certmgr.cli.pki_commands" in full_loaded
    if COMMAND_SUMMARIES.keys() == COMMAND_INDEX.keys():
        assert lazy_loaded == ["certmgr.cli.app", "certmgr.cli.common"]


def test_home_before_the_subcommand_wins_over_the_environment(tmp_path: Path) -> None:
    # CERTMGR_HOME names one home, --home before the subcommand another: the command line
    # wins, as it does after the subcommand (the variable filled the subcommand's option too).
    given, other = tmp_path / "given", tmp_path / "other"
    certmgr = [sys.executable, "-m", "certmgr"]
    env = {"CERTMGR_HOME": str(other), "PATH": "/usr/bin:/bin"}
    for argv in ([*certmgr, "--home", str(given), "init", "--json"],
                 [*certmgr, "init", "--home", str(given), "--json"]):
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["home"] == str(given)
    assert not other.exists()
