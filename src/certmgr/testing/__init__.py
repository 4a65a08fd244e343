"""Test support shipped with certmgr: fakes behind its seams, fixtures' helpers.

Nothing in the product imports this package.
"""

from __future__ import annotations

import os

__all__ = ["in_ci", "skip_or_fail"]


def in_ci() -> bool:
    """True under CI (``CI=true``): tests that need root, the lab, PostgreSQL or SSH must run."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip the test with ``reason`` locally; fail it in CI, where everything must run."""
    import pytest

    if in_ci():
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
