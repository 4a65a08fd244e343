"""Shared helpers of the program specs' config tests and reloads (hosts-level primitives)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING

from certmgr.errors import ReloadFailed

if TYPE_CHECKING:
    from certmgr.hosts.base import CommandResult, Host
    from certmgr.programs.spec import ReloadContext

__all__ = ["config_flag", "require_running", "retest_before_signal", "run_test", "tail"]


def tail(result: CommandResult, lines: int = 4) -> str:
    text = (result.stderr.strip() or result.stdout.strip()).splitlines()[-lines:]
    return " | ".join(text) or "(no output)"


def run_test(host: Host, argv: list[str], what: str) -> str | None:
    """Run a configuration test; None if it passed, else one line saying what it said."""
    result = host.run(argv, check=False, timeout=120)
    if result.ok:
        return None
    return f"{what} ({' '.join(argv)}) failed with exit {result.returncode}: {tail(result)}"


def config_flag(flag: str, config: str, default: str, *, directory: bool = False) -> list[str]:
    """``[flag, config]`` when the program's config is not at its default place."""
    value = posixpath.dirname(config) if directory else config
    return [] if value == default else [flag, value]


def require_running(ctx: ReloadContext, name: str) -> None:
    """Raise ReloadFailed when the table's main pid of ``name`` is dead (or a zombie).

    A signal to a zombie succeeds, so ``kill -HUP $(cat PIDFILE)`` would report a
    reload of a program that is gone; failing here lets the engine start it instead.
    Hosts that cannot tell (systemd, no pid known) are not checked.
    """
    pid = ctx.control.main_pid(name)
    if pid is not None and not ctx.control.alive(pid):
        raise ReloadFailed(f"{name} is not running on {ctx.host.name} (pid {pid} is gone): "
                           "it cannot be reloaded")


def retest_before_signal(ctx: ReloadContext, test: Callable[[], str | None], name: str,
                         still: str) -> None:
    """Before signalling ``name`` to reload: it must be running and pass ``test`` again.

    nginx and haproxy keep serving their old configuration when a reload cannot
    load the new files, which would show only as verify timing out. The files may
    have changed since preflight, so the program's own test runs right before the
    signal. A rollback always signals (the old files are known good).
    """
    require_running(ctx, name)
    if ctx.restoring:
        return
    problem = test()
    if problem is not None:
        raise ReloadFailed(f"{problem}; {name} was not signalled and {still}")
