"""The monitoring screen's speed (issue 17): with N (default 10,000) monitored endpoints
in the repository (discovered slots on 10 hosts), each with H (default 5) probes of
history and a tenth of them unreachable, the first page of the endpoint list (screen and
API), the list filtered by a problem, one endpoint with its history, and the list again
right after a probe was stored (the kept list is read again), each timed over
HTTPS with httpx against a trivial route of the same server in the same run (a static
file). Reported against the console's budget for its lists: p95 at most 0.3 s and at
most 20 times the trivial route's p95.

Writes bench/results/web_monitoring.json. Run: ``.venv/bin/python -m bench.web_monitoring
[--endpoints N] [--history H] [--samples S]``. The temporary directory is removed at the
end. SQLite only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench._webserve import BUDGET_P95, BUDGET_RATIO, serving, summary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "web_monitoring.json"
HOSTS = 10


def _fill(repo: object, endpoints: int, history: int) -> None:
    """Slots through save_discovery, observations through add_observation (as the
    monitor stores them): the newest of each endpoint marked as the monitor leaves it."""
    from certmgr.repository import ObservationRecord

    per_host = endpoints // HOSTS
    now = dt.datetime.now(dt.UTC)
    for h in range(HOSTS):
        slots = [{"id": f"nginx-{i}", "config": f"/etc/nginx/sites-enabled/s{i}",
                  "names": [f"s{i}.h{h}.example"],
                  "endpoints": [{"address": f"10.{h}.{i // 250}.{i % 250 + 1}", "port": 443,
                                 "tls": "direct", "sni": f"s{i}.h{h}.example"}],
                  "cert": f"/etc/ssl/s{i}.crt", "key": f"/etc/ssl/s{i}.key", "chain": None,
                  "ca": None, "keystore": None, "keystore_type": None}
                 for i in range(per_host)]
        repo.save_discovery(f"lab:h{h}", [{"kind": "nginx",  # type: ignore[attr-defined]
                                           "config": "/etc/nginx/nginx.conf",
                                           "user": "root", "slots": slots}])
        for i in range(per_host):
            for k in reversed(range(history)):
                ok = i % 10 != 0
                repo.add_observation(ObservationRecord(  # type: ignore[attr-defined]
                    f"10.{h}.{i // 250}.{i % 250 + 1}", 443, "direct",
                    now - dt.timedelta(minutes=5 * k), ok=ok, host=f"lab:h{h}",
                    sni=f"s{i}.h{h}.example", error=None if ok else "TIMEOUT: no answer",
                    leaf_sha256=format(i, "064x") if ok else None,
                    not_after=now + dt.timedelta(days=90) if ok else None), keep=history)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_monitoring")
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=5)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args(argv)
    from certmgr.app.endpoints import endpoint_id
    from certmgr.issuers import init_builtin_ca
    from certmgr.repository import ObservationRecord
    from certmgr.web.console import Console

    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-webmon-"))
    try:
        console = Console(tmp / "home")
        repo = console.repository()
        init_builtin_ca(repo)
        start = time.perf_counter()
        _fill(repo, args.endpoints, args.history)
        fill = time.perf_counter() - start
        i = args.endpoints // HOSTS // 2  # one in the middle of host lab:h5
        one = endpoint_id(f"10.5.{i // 250}.{i % 250 + 1}", 443, "direct", f"s{i}.h5.example")
        routes = {"trivial_static": "/static/app.css", "monitoring_page_1": "/monitoring",
                  "api_endpoints_page_1": "/api/v1/endpoints?limit=50",
                  "api_endpoints_unreachable": "/api/v1/endpoints?problem=unreachable",
                  "api_endpoint_history": f"/api/v1/endpoints/{one}",
                  # a probe stored before each request: the list is read again
                  "api_endpoints_after_a_probe": "/api/v1/endpoints?limit=50"}
        timings: dict[str, list[float]] = {}
        with serving(console, tmp) as client:
            for name, path in routes.items():
                client.get(path).raise_for_status()  # warm
                timings[name] = []
                for _ in range(args.samples):
                    if name.endswith("after_a_probe"):
                        repo.add_observation(ObservationRecord(
                            "10.0.0.1", 443, "direct", dt.datetime.now(dt.UTC), ok=True,
                            host="lab:h0", sni="s0.h0.example"), keep=args.history)
                    t0 = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[name].append(time.perf_counter() - t0)
        console.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_1min": round(os.getloadavg()[0], 2), "backend": "sqlite",
        "endpoints": args.endpoints, "history": args.history, "samples": args.samples,
        "fill_seconds": round(fill, 2),
        "budget": {"p95_seconds": BUDGET_P95, "ratio_to_trivial": BUDGET_RATIO},
        **summary(timings),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(result["within_budget"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
