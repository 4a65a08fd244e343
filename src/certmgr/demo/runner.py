"""Run certmgr commands the way a user would, and judge each step's outcome.

The demo drives certmgr through its own command line (``certmgr ... --json``), run
as the installed executable in a process of its own, so every step shows a
command the reader can type, and what the demo proves is what a user gets. Each
step has an expected outcome; any other outcome fails the demo.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certmgr.errors import CertmgrError

__all__ = ["CommandRun", "DemoFailed", "Step", "StepResult", "certmgr", "certmgr_command"]


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


def certmgr_command() -> list[str]:
    """The installed ``certmgr`` executable (the one beside this interpreter, else the one
    on PATH), or this interpreter running certmgr's own ``__main__``."""
    beside = Path(sys.executable).with_name("certmgr")
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("certmgr")
    return [found] if found else [sys.executable, "-m", "certmgr"]


def certmgr(home: Path, *args: str) -> CommandRun:
    """Run ``certmgr ARGS --home HOME --json`` and parse what it prints on stdout.

    The command runs as its own process, exactly as a user runs it in a shell (the
    same parsing, checks, output and exit codes).
    """
    argv = (*args, "--home", str(home), "--json")
    env = {**os.environ, "COLUMNS": "160"}
    start = time.monotonic()
    done = subprocess.run([*certmgr_command(), *argv], capture_output=True, text=True,
                          env=env, check=False, stdin=subprocess.DEVNULL)
    data: Any = None
    if done.stdout.strip():
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError:
            data = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return CommandRun(tuple(argv), done.returncode, data, done.stderr,
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
