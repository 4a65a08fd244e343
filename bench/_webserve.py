"""What the web benchmarks share: the console served over real HTTPS on loopback to an
httpx client signed in as a viewer (session cookie and token), and the p95 summary
against a trivial route of the same server."""

from __future__ import annotations

import contextlib
import ssl
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives import serialization

if TYPE_CHECKING:
    from certmgr.web.console import Console

BUDGET_P95 = 0.3
BUDGET_RATIO = 20.0


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


@contextlib.contextmanager
def serving(console: Console, tmp: Path) -> Iterator[httpx.Client]:
    """The console on 127.0.0.1 (its own certificate, for ``bench.test`` and localhost),
    and a client that trusts only the built-in root; the server stops on exit."""
    from certmgr.app import users as uc
    from certmgr.app.console import console_certificate
    from certmgr.app.trust import builtin_roots
    from certmgr.web.app import create_app
    from certmgr.web.security import SESSION_COOKIE, Security
    from certmgr.web.server import Listen, make_server, tls_context

    repo = console.repository()
    uc.add_user(repo, "bench", "viewer", password="bench password 1")
    token = uc.create_token(repo, "bench", expires=None).token
    cert = console_certificate(console, fqdn="bench.test")
    cafile = tmp / "root.pem"
    cafile.write_bytes(b"".join(r.public_bytes(serialization.Encoding.PEM)
                                for r in builtin_roots(repo)))
    security = Security()
    server = make_server(create_app(console, security=security), Listen("127.0.0.1", 0),
                         tls_context(cert))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    session = security.new_session("bench")
    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with httpx.Client(base_url=f"https://localhost:{port}", verify=context, timeout=300,
                          cookies={SESSION_COOKIE: session.sid},
                          headers={"authorization": f"Bearer {token}"}) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def summary(timings: dict[str, list[float]]) -> dict[str, Any]:
    """p95 and median per route, each route's p95 as a ratio to ``trivial_static``'s,
    and whether it is within the budgets."""
    high = {k: round(p95(v), 4) for k, v in timings.items()}
    trivial = high["trivial_static"]
    checked = [k for k in high if k != "trivial_static"]
    return {
        "p95_seconds": high,
        "median_seconds": {k: round(statistics.median(v), 4) for k, v in timings.items()},
        "ratio_to_trivial": {k: round(high[k] / trivial, 1) for k in checked},
        "within_budget": {k: high[k] <= BUDGET_P95 and high[k] / trivial <= BUDGET_RATIO
                          for k in checked},
    }
