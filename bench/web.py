"""The web console's speed (issue 17, Speed): with N (default 100,000) current
certificates and E (default 10,000) monitored endpoints in the repository (each with
its slot, a deployment and two probe results, 1% of the newest failing, 2% with a
finding), the dashboard and the first page of the certificate list, unfiltered and
filtered on the renewal state ``renew``, screen and API,
each timed over HTTPS with httpx beside a trivial route of the same server in the
same run (a static file). Samples are taken round-robin (one of each route per
round), so a load spike on the shared machine touches every route alike.

Budget: p95 at most 0.3 s and at most 20 times the trivial route's p95, on SQLite and
on PostgreSQL. PostgreSQL: ``--pg-url`` (or ``CERTMGR_BENCH_PG_URL``) names a server
where the bench may create and drop a database (``postgresql://USER@HOST:PORT/DB``).

Writes bench/results/web.json. Run: ``.venv/bin/python -m bench.web [--rows N]
[--endpoints E] [--samples S] [--backend sqlite|postgresql|both] [--pg-url URL]``.
The temporary directory and database are removed at the end. The PostgreSQL
database is vacuumed and analysed after the bulk load, as autovacuum would.
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
import uuid
from pathlib import Path
from typing import Any

from bench._fill import bulk_insert
from bench._webserve import BUDGET_P95, BUDGET_RATIO, serving, summary
from bench.budgets import large_rows

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "web.json"
ROUTES = {"trivial_static": "/static/app.css", "dashboard": "/",
          "api_dashboard": "/api/v1/dashboard", "certificates_page_1": "/certificates",
          "api_certificates_page_1": "/api/v1/certificates?limit=50",
          "api_definitions_page_1": "/api/v1/definitions?limit=50",
          "certificates_renew_page_1": "/certificates?state=renew",
          "api_certificates_renew_page_1": "/api/v1/certificates?state=renew&limit=50"}
_FILLED = ("hosts", "services", "slots", "endpoints", "definitions", "definition_targets",
           "certificates", "deployments", "observations")


def endpoint_rows(rows: int, endpoints: int, certs: list[dict[str, Any]]
                  ) -> list[tuple[str, list[dict[str, Any]]]]:
    """Hosts web0..web49 with an nginx service, one slot and endpoint per monitored
    definition (the first ``endpoints``), a verified deployment each (0.5% failed), two
    observations per endpoint (the newest: 1% failed, 2% with a warning finding)."""
    now = dt.datetime.now(dt.UTC)
    hosts = [{"id": h + 1, "name": f"web{h}", "kind": "ssh", "address": f"10.0.{h}.1",
              "params": {}, "created": now, "updated": now} for h in range(50)]
    services = [{"id": h + 1, "host_id": h + 1, "kind": "nginx",
                 "config": "/etc/nginx/nginx.conf", "user": None, "data": {}}
                for h in range(50)]
    slots, ends, targets, deployments, observations = [], [], [], [], []
    for i in range(rows):
        name = f"host{i}.example.com"
        targets.append({"id": i + 1, "definition_id": i + 1, "host": f"web{i % 50}",
                        "slot_id": f"nginx:{name}"})
        if i >= endpoints:
            continue
        h = i % 50
        slots.append({"id": i + 1, "host_id": h + 1, "service_id": h + 1,
                      "slot_id": f"nginx:{name}", "config": None, "names": [name],
                      "cert": f"/etc/ssl/{name}.pem", "key": f"/etc/ssl/{name}.key",
                      "chain": None, "ca": None, "keystore": None, "keystore_type": None,
                      "data": {}})
        address = f"10.{1 + i // 65536}.{i // 256 % 256}.{i % 256}"
        ends.append({"id": i + 1, "slot_id": i + 1, "address": address, "port": 443,
                     "tls": "direct", "sni": name})
        failed = i % 200 == 7
        deployments.append({"id": i + 1, "definition_id": i + 1, "certificate_id": i + 1,
                            "host": f"web{h}", "slot_id": f"nginx:{name}",
                            "state": "failed" if failed else "verified",
                            "reason": "nginx -t failed" if failed else None,
                            "started": now - dt.timedelta(days=2),
                            "finished": now - dt.timedelta(days=2), "data": {}})
        cert = certs[i]
        for age, newest in ((dt.timedelta(hours=2), False), (dt.timedelta(minutes=5), True)):
            down = newest and i % 100 == 3
            finding = newest and i % 50 == 11
            observations.append({
                "host": f"web{h}", "address": address, "port": 443, "tls": "direct",
                "sni": name, "time": now - age, "ok": not down,
                "error": "connection refused" if down else None,
                "chain_sha256": [] if down else [cert["sha256"]],
                "leaf_sha256": None if down else cert["sha256"],
                "not_after": None if down else cert["not_after"],
                "findings": [{"severity": "warning", "code": "CHAIN_INCOMPLETE",
                              "message": "the intermediate is missing"}] if finding else [],
                "latest": newest})
    return [("hosts", hosts), ("services", services), ("slots", slots), ("endpoints", ends),
            ("definition_targets", targets), ("deployments", deployments),
            ("observations", observations)]


def _fill(repo: Any, rows: int, endpoints: int) -> float:
    start = time.perf_counter()
    defs, certs = large_rows(rows, 1_000)
    rest = endpoint_rows(rows, endpoints, certs)
    bulk_insert(repo, [("definitions", defs), ("certificates", certs), *rest])
    if repo.backend == "postgresql":  # the explicit ids: move each table's sequence on
        with repo._db.tx(write=True) as tx:
            for table in _FILLED:
                if table != "observations":
                    tx.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                               f"(SELECT max(id) FROM {table}))")
        # what autovacuum does after a bulk load: statistics, and the visibility map
        # that lets counts read the (state, not_after) index alone
        repo._db.read().execute("VACUUM ANALYZE")
    return time.perf_counter() - start


def run(backend: str, db: str | None, rows: int, endpoints: int,
        samples: int) -> dict[str, Any]:
    from certmgr.issuers import init_builtin_ca
    from certmgr.web.console import Console

    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-web-"))
    try:
        console = Console(tmp / "home", db)
        repo = console.repository()
        fill = _fill(repo, rows, endpoints)
        init_builtin_ca(repo)
        timings: dict[str, list[float]] = {name: [] for name in ROUTES}
        with serving(console, tmp) as client:
            for path in ROUTES.values():
                client.get(path).raise_for_status()  # warm
            for _ in range(samples):
                for name, path in ROUTES.items():
                    start = time.perf_counter()
                    client.get(path).raise_for_status()
                    timings[name].append(time.perf_counter() - start)
            board = client.get("/api/v1/dashboard").json()
        console.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "backend": backend, "fill_seconds": round(fill, 2),
        "repository": {"certificates": board["counts"]["certificates"],
                       "endpoints": board["counts"]["endpoints"],
                       "problems": {g["code"]: g["total"] for g in board["problems"]}},
        **summary(timings),
    }


def _pg_database(admin: str) -> tuple[str, Any]:
    import psycopg

    name = f"certmgr_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is ours: hex only

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{admin.split('?', 1)[0].rsplit('/', 1)[0]}/{name}", drop


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg-url", default=os.environ.get("CERTMGR_BENCH_PG_URL"))
    args = parser.parse_args(argv)
    if not 0 <= args.endpoints <= args.rows:
        parser.error("--endpoints must be between 0 and --rows")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and not args.pg_url:
        parser.error("PostgreSQL needs --pg-url or CERTMGR_BENCH_PG_URL")
    results: dict[str, Any] = {}
    for backend in backends:
        if backend == "sqlite":
            results[backend] = run(backend, None, args.rows, args.endpoints, args.samples)
            continue
        url, drop = _pg_database(args.pg_url)
        try:
            results[backend] = run(backend, url, args.rows, args.endpoints, args.samples)
        finally:
            drop()
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.web " + " ".join(argv),
        "load_1min": round(os.getloadavg()[0], 2), "rows": args.rows,
        "endpoints": args.endpoints, "samples": args.samples,
        "budget": {"p95_seconds": BUDGET_P95, "ratio_to_trivial": BUDGET_RATIO},
        "backends": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(all(r["within_budget"].values()) for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
