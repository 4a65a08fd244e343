"""``certmgr demo``: the seed report's evaluation, step by step, on a lab host."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.rule import Rule
from rich.table import Table

from certmgr.cli.app import app
from certmgr.cli.common import Globals, command
from certmgr.demo.runner import Step, StepResult, certmgr
from certmgr.demo.story import DemoContext, can_run_lab, run_story

_MAX_ROWS = 14


@command(app, "demo")
def demo(
    g: Globals,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Leave the lab running and keep the demo's home afterwards.")] = False,
    files_only: Annotated[bool, typer.Option(
        "--files-only", help="Use the file-only lab even where the real one could run.")] = False,
) -> int:
    """Run the seed's whole evaluation on a lab host: lab, discover, check, CA and
    definitions, issue, deploy with verification, scan of every port, status.

    Each step has an expected outcome; any other outcome exits 1. The demo uses a
    home of its own (a new temporary directory), never your repository.
    """
    runnable, why = can_run_lab()
    files_only = files_only or not runnable
    home = Path(tempfile.mkdtemp(prefix="certmgr-demo."))
    ctx = DemoContext(home=home, lab_dir=home / "lab", files_only=files_only)
    if files_only and not g.json:
        g.out.print(f"[yellow]Running on the file-only lab: {why or '--files-only'}. "
                    "Steps that need running programs are skipped and say so.[/]")
    start = time.monotonic()
    results: list[tuple[Step, StepResult]] = []
    try:
        run_story(ctx, lambda step, result: _show(g, step, result, results))
    finally:
        if not keep:
            down = certmgr(home, "lab", "down", "--dir", str(ctx.lab_dir))
            if down.returncode:
                g.err.print(f"[red]lab down failed: {down.last_error()}[/]", highlight=False)
            else:
                shutil.rmtree(home, ignore_errors=True)
    elapsed = time.monotonic() - start
    ok = len(results) == 8 and all(r.ok for _, r in results)
    if g.json:
        g.emit_json(_json(results, ok, elapsed, files_only, home if keep else None))
    else:
        _footer(g, ok, elapsed, results, home if keep else None)
    return 0 if ok else 1


def _show(g: Globals, step: Step, result: StepResult,
          results: list[tuple[Step, StepResult]]) -> None:
    results.append((step, result))
    if g.json:
        return
    out = g.out
    out.print(Rule(f"[bold]{step.number}. {step.title}[/]", align="left"))
    for c in result.commands:
        out.print(f"[dim]$ {c.shown}[/]  [dim]({c.seconds:.1f}s)[/]", highlight=False)
    if result.rows:
        table = Table(*result.columns, show_header=True, header_style="bold", box=None,
                      pad_edge=False)
        for row in result.rows[:_MAX_ROWS]:
            table.add_row(*row)
        if len(result.rows) > _MAX_ROWS:
            table.add_row(f"... {len(result.rows) - _MAX_ROWS} more", *[""] * (
                len(result.columns) - 1))
        out.print(table)
    if result.skipped:
        out.print(f"[yellow]skipped:[/] {result.skipped}", highlight=False)
    elif result.ok:
        out.print(f"[green]✓[/] {result.summary}", highlight=False)
    else:
        expected = f" (expected: {result.expected})" if result.expected else ""
        out.print(f"[bold red]✗ {result.summary}[/]{expected}", highlight=False)


def _footer(g: Globals, ok: bool, elapsed: float, results: list[tuple[Step, StepResult]],
            kept: Path | None) -> None:
    skipped = [f"{s.number} ({r.skipped})" for s, r in results if r.skipped]
    where = " on the file-only lab" if skipped else ""
    verdict = f"[bold green]The seed's evaluation passed{where}[/]" if ok else \
        "[bold red]The demo stopped at an unexpected outcome[/]"
    g.out.print(Rule())
    g.out.print(f"{verdict} in {elapsed:.1f}s"
                + (f"; skipped steps: {', '.join(skipped)}" if skipped else ""), highlight=False)
    if kept:
        g.out.print(f"The lab and the demo's home are kept in {kept} "
                    f"(`certmgr lab down --home {kept}` removes the lab).")


def _json(results: list[tuple[Step, StepResult]], ok: bool, elapsed: float,
          files_only: bool, kept: Path | None) -> dict[str, Any]:
    return {
        "ok": ok, "seconds": round(elapsed, 2), "files_only": files_only,
        "home": str(kept) if kept else None,
        "steps": [{"number": s.number, "title": s.title, "ok": r.ok, "expected": r.expected,
                   "summary": r.summary, "skipped": r.skipped, "seconds": round(r.seconds, 2),
                   "commands": [{"command": c.shown, "exit": c.returncode,
                                 "seconds": round(c.seconds, 2)} for c in r.commands]}
                  for s, r in results],
    }
