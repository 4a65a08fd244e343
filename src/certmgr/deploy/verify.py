"""Prove what each endpoint of a slot serves: probe until the expected leaf is served
and the handshake completes, within a bounded wait.

Postfix, Dovecot and Tomcat accept a bad key and fail only at handshake time,
so a completed handshake is part of the proof, not only the presented leaf.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping, Sequence
from functools import cache

from certmgr.deploy.checkpoints import cancel_requested
from certmgr.models import Endpoint
from certmgr.probe import (
    ProbeOptions,
    Prober,
    ProbeResult,
    Reason,
    Target,
    make_client_context,
    run_async,
)

__all__ = ["endpoint_address", "served_now", "wait_served"]

_WILDCARDS = ("*", "0.0.0.0", "::", "", "[::]")  # noqa: S104 - listen addresses, never bound
_POLL = 0.2
_POLL_MAX = 1.0
_SETTLE = 6.0
# Failures that persist when a program cannot use its new files.
_DEFINITE = (Reason.CONNECTION_REFUSED, Reason.STARTTLS_REFUSED, Reason.HANDSHAKE_FAILED)


def endpoint_address(endpoint: Endpoint, host_address: str | None) -> str:
    """Where to probe an endpoint: its listen address, or the host's for a wildcard."""
    if endpoint.address in _WILDCARDS:
        return host_address or "127.0.0.1"
    return endpoint.address


def _key(endpoint: Endpoint) -> str:
    proto = endpoint.tls.protocol
    return f"{endpoint.address}:{endpoint.port}" + (f"/{proto}" if proto else "")


def served_now(endpoints: Sequence[Endpoint], host_address: str | None,
               timeout: float = 5.0) -> dict[str, ProbeResult]:
    """Probe every endpoint once; endpoint name -> result."""
    targets = [Target(endpoint_address(e, host_address), e.port, e.tls, e.sni)
               for e in endpoints]
    prober = Prober(ProbeOptions(timeout=timeout), context=_context())
    results = run_async(prober.probe_all(targets))
    return {_key(e): r for e, r in zip(endpoints, results, strict=True)}


@cache
def _context() -> ssl.SSLContext:
    # One client context for every probe of the process: building one costs nearly as
    # much CPU as a handshake (~0.4 ms), and a deployment probes each slot twice.
    return make_client_context()


def wait_served(endpoints: Sequence[Endpoint], host_address: str | None,
                want: Mapping[str, str | None], *, timeout: float,
                settle: float = _SETTLE) -> tuple[bool, dict[str, str]]:
    """Probe until every endpoint serves ``want[name]`` (a leaf SHA-256, or None: "down").

    Gives up before ``timeout`` when an endpoint has failed outright (refused, no
    STARTTLS, handshake failed) for ``settle`` seconds in a row: a program that
    cannot load its key fails that way for good, while one still reloading serves
    the old certificate or refuses only for a moment.

    Returns:
        (all as wanted, endpoint name -> what was seen last: a fingerprint or the error).
    """
    deadline = time.monotonic() + timeout
    failing_since: dict[str, float] = {}
    pause = _POLL
    while True:
        results = served_now(endpoints, host_address, timeout=min(5.0, timeout))
        now = time.monotonic()
        seen = {name: (r.leaf_sha256 or "") if r.ok else f"error: {r.error}"
                for name, r in results.items()}
        done = all((r.ok and r.leaf_sha256 == want.get(name)) or
                   (want.get(name) is None and not r.ok) for name, r in results.items())
        for name, r in results.items():
            if r.ok or want.get(name) is None or r.reason not in _DEFINITE:
                failing_since.pop(name, None)
            else:
                failing_since.setdefault(name, now)
        stuck = any(now - since >= settle for since in failing_since.values())
        if done or stuck or now >= deadline or cancel_requested():
            return done, seen
        # Back off: most reloads show within a second, and many deployments probing at
        # once must not starve the programs they wait for of CPU.
        time.sleep(pause)
        pause = min(pause * 1.5, _POLL_MAX)
