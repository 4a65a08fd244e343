"""The web console's speed (issue 17): with N (default 100,000) current certificates in
the repository, the dashboard and the first page of the certificate list (screen and
API), each timed over HTTPS with httpx against a trivial route of the same server in
the same run (a static file). Budget: p95 at most 0.3 s and at most 20 times the
trivial route's p95.

Writes bench/results/web.json. Run: ``.venv/bin/python -m bench.web [--rows N]
[--samples S]``. The temporary directory is removed at the end. SQLite only here; the
PostgreSQL figures are still to be measured. Measured: over 100,000 certificates the
dashboard did not answer within 300 s (``build_status`` reads each definition on its
own); use ``--no-dashboard`` there, and e.g. ``--rows 10000`` for the dashboard.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization

from bench.budgets import large_home

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "web.json"
BUDGET_P95 = 0.3
BUDGET_RATIO = 20.0


def _p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--no-dashboard", action="store_true",
                        help="leave the dashboard out (over 100,000 certificates it takes "
                             "minutes: app.status reads each definition on its own)")
    args = parser.parse_args(argv)
    from certmgr.app.console import console_certificate
    from certmgr.app.trust import builtin_roots
    from certmgr.issuers import init_builtin_ca
    from certmgr.web.app import create_app
    from certmgr.web.console import Console
    from certmgr.web.security import SESSION_COOKIE, Security
    from certmgr.web.server import Listen, make_server, tls_context

    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-web-"))
    try:
        home = tmp / "home"
        fill = large_home(home, args.rows, 1_000)
        console = Console(home)
        repo = console.repository()
        init_builtin_ca(repo)
        from certmgr.app import users as uc

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
        routes = {"trivial_static": "/static/app.css", "dashboard": "/",
                  "certificates_page_1": "/certificates",
                  "api_certificates_page_1": "/api/v1/certificates?limit=50"}
        if args.no_dashboard:
            del routes["dashboard"]
        timings: dict[str, list[float]] = {}
        context = ssl.create_default_context(cafile=str(cafile))
        with httpx.Client(base_url=f"https://localhost:{port}", verify=context, timeout=300,
                          cookies={SESSION_COOKIE: session.sid},
                          headers={"authorization": f"Bearer {token}"}) as client:
            for name, path in routes.items():
                client.get(path).raise_for_status()  # warm
                timings[name] = []
                for _ in range(args.samples):
                    start = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[name].append(time.perf_counter() - start)
        server.should_exit = True
        thread.join(10)
        console.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    p95 = {k: round(_p95(v), 4) for k, v in timings.items()}
    trivial = p95["trivial_static"]
    checked = [k for k in p95 if k != "trivial_static"]
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_1min": round(os.getloadavg()[0], 2), "backend": "sqlite",
        "rows": args.rows, "samples": args.samples, "fill_seconds": round(fill, 2),
        "p95_seconds": p95,
        "median_seconds": {k: round(statistics.median(v), 4) for k, v in timings.items()},
        "ratio_to_trivial": {k: round(p95[k] / trivial, 1) for k in checked},
        "budget": {"p95_seconds": BUDGET_P95, "ratio_to_trivial": BUDGET_RATIO},
        "within_budget": {k: p95[k] <= BUDGET_P95 and p95[k] / trivial <= BUDGET_RATIO
                          for k in checked},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(result["within_budget"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
