"""Shared helpers of the program strategies."""

from __future__ import annotations

import posixpath

from certmgr.hosts.base import CommandResult, WritableHost

__all__ = ["config_flag", "run_test", "tail"]


def tail(result: CommandResult, lines: int = 4) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()[-lines:]
    return " | ".join(text) or "(no output)"


def run_test(host: WritableHost, argv: list[str], what: str) -> str | None:
    """Run a configuration test; None if it passed, else one line saying what it said."""
    result = host.run(argv, check=False, timeout=120)
    if result.ok:
        return None
    return f"{what} ({' '.join(argv)}) failed with exit {result.returncode}: {tail(result)}"


def config_flag(flag: str, config: str, default: str, *, directory: bool = False) -> list[str]:
    """``[flag, config]`` when the program's config is not at its default place."""
    value = posixpath.dirname(config) if directory else config
    return [] if value == default else [flag, value]
