"""Run certmgr commands the way a user would, and judge each step's outcome.

The demo drives certmgr through its own command line (``certmgr ... --json``),
so every step shows a command the reader can type, and what the demo proves
is what a user gets. Each step has an expected outcome; any other
outcome fails the demo.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certmgr.errors import CertmgrError

__all__ = ["CommandRun", "DemoFailed", "Step", "StepResult", "certmgr"]


class DemoFailed(CertmgrError):
    """A demo step did not have its expected outcome."""

    exit_code = 1


@dataclass(frozen=True)
class CommandRun:
    """One certmgr command the demo ran: its arguments, exit code and parsed JSON."""

    argv: tuple[str, ...]
    returncode: int
    data: Any
    stderr: str
    seconds: float

    @property
    def shown(self) -> str:
        """The command as a user would type it (without the demo's --home/--json)."""
        args = [a for a in self.argv if a != "--json"]
        if "--home" in args:
            i = args.index("--home")
            del args[i:i + 2]
        return "certmgr " + shlex.join(args)

    def last_error(self) -> str:
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit {self.returncode}"


def certmgr(home: Path, *args: str) -> CommandRun:
    """Run ``certmgr ARGS --home HOME --json`` and parse what it prints on stdout.

    The command runs in this process through certmgr's own command line (the same
    parsing, checks and exit codes as in a shell), which spares each step the
    interpreter's start-up.
    """
    from typer.testing import CliRunner

    from certmgr.cli.app import _register, app

    _register()
    argv = (*args, "--home", str(home), "--json")
    start = time.monotonic()
    result = CliRunner().invoke(app, list(argv), env={"COLUMNS": "160"})
    data: Any = None
    stdout = result.stdout
    if stdout.strip():
        try:
            data = json.loads(stdout)
        except json.JSONDecodeError:
            data = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return CommandRun(tuple(argv), result.exit_code, data, result.stderr,
                      time.monotonic() - start)


@dataclass
class StepResult:
    """What a step showed: a headline, rows for a table, and whether it went as expected."""

    ok: bool
    expected: str
    summary: str
    columns: tuple[str, ...] = ()
    rows: Sequence[Sequence[str]] = field(default_factory=list)
    commands: list[CommandRun] = field(default_factory=list)
    skipped: str | None = None

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.commands)


@dataclass(frozen=True)
class Step:
    """One numbered step of the story: a title and the function that runs and judges it."""

    number: int
    title: str
    run: Callable[[], StepResult]
