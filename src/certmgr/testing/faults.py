"""Fault injection for crash-consistency tests: SIGKILL at a named checkpoint.

A child process calls :func:`install_from_env` before it deploys; the test sets

* ``CERTMGR_FAULT_AT=NAME`` or ``NAME#N``: SIGKILL at the N-th (default first)
  time checkpoint NAME is reached;
* ``CERTMGR_FAULT_AFTER=K``: SIGKILL at the K-th checkpoint reached, whatever
  its name (random points);
* ``CERTMGR_FAULT_LOG=FILE``: append every checkpoint reached to FILE, one name a
  line, flushed before any kill, so the test can report which checkpoints it hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator

from certmgr.deploy.checkpoints import add_hook

__all__ = ["ENV_AFTER", "ENV_AT", "ENV_LOG", "at_checkpoint", "install_from_env", "kill_hook"]

ENV_AT = "CERTMGR_FAULT_AT"
ENV_AFTER = "CERTMGR_FAULT_AFTER"
ENV_LOG = "CERTMGR_FAULT_LOG"


def kill_hook(at: str | None, nth: int = 1, after: int | None = None,
              log: str | None = None) -> Callable[[str], None]:
    """A checkpoint hook that logs each checkpoint and SIGKILLs the process as asked."""
    seen: Counter[str] = Counter()
    total = [0]

    def hook(name: str) -> None:
        seen[name] += 1
        total[0] += 1
        if log:
            with open(log, "a", encoding="ascii") as fh:
                fh.write(name + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        if (at == name and seen[name] == nth) or (after is not None and total[0] == after):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def install_from_env() -> bool:
    """Install :func:`kill_hook` as configured by the environment; False if nothing is set."""
    spec = os.environ.get(ENV_AT)
    after = os.environ.get(ENV_AFTER)
    log = os.environ.get(ENV_LOG)
    if not (spec or after or log):
        return False
    at, nth = None, 1
    if spec:
        at, _, count = spec.partition("#")
        nth = int(count) if count else 1
    add_hook(kill_hook(at, nth, int(after) if after else None, log))
    return True


@contextlib.contextmanager
def at_checkpoint(name: str, action: Callable[[], None]) -> Iterator[list[str]]:
    """Run ``action`` the first time checkpoint ``name`` is reached (in this process).

    For real faults on a lab host: corrupt the installed key or kill the program
    between preflight and reload (``at_checkpoint("reload", ...)``). Yields the
    list of checkpoints reached, for the test to assert on.
    """
    reached: list[str] = []
    done = [False]

    def hook(seen: str) -> None:
        reached.append(seen)
        if seen == name and not done[0]:
            done[0] = True
            action()

    remove = add_hook(hook)
    try:
        yield reached
    finally:
        remove()
