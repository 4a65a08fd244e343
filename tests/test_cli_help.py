"""``--help`` of every command and subcommand: exit 0, a help screen, never a traceback.

The commands are found by walking the typer app (every registered module), so a
command added later is covered without touching this file.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from certmgr.cli import app


def _command_paths() -> list[tuple[str, ...]]:
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = [()]

    def walk(cmd: Any, prefix: tuple[str, ...]) -> None:
        # typer vendors click privately: a group is a command with sub-commands.
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            paths.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(root, ())
    return paths


PATHS = _command_paths()


def test_the_walk_finds_every_command() -> None:
    names = {p[0] for p in PATHS if p}
    assert {"scan", "issue", "ca", "host", "monitor", "apply"} <= names
    assert ("ca", "revoke") in PATHS and ("definitions", "edit") in PATHS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "certmgr")
def test_help_of_every_command(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    output = result.stdout + result.stderr
    assert result.exit_code == 0, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert "Traceback" not in output
    assert "Usage:" in output
