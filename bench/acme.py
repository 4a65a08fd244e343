"""ACME speed against a local pebble 2.10 (issue 16), side by side with certbot.

* ``certmgr issue NAME`` for one certificate (http-01 by certmgr's standalone responder,
  order, finalize, store, ARI fetch), the whole command as a subprocess, start-up
  included: median of ``--repeat`` runs (every run after the first is a renewal sending
  ``replaces``). Goal: at most 0.2 s.
* ``certmgr issue --all`` over ``--many`` definitions, one command: goal at most 10 s for 100.
* certbot ``certonly --standalone`` for the same kind of name against the same pebble in the
  same run (account registered first, not timed), median of ``--certbot`` runs, from a venv
  given by ``--certbot-venv`` (``python3 -m venv V && V/bin/pip install certbot``); the
  ratio certbot/certmgr per certificate. Goal: at least 20.
* The renewal check over ``--check`` ACME certificates with nothing due (ARI answers
  stored, next checks in the future): ``refresh_renewal_info`` + ``due_renewals``
  in-process. Goal: under 1 s for 10,000.

certmgr's modules are compiled to bytecode first, as an installed certmgr's are.
pebble and BIND 9 come from ``.ci/install-packages``. Writes bench/results/acme.json.
Run: ``.venv/bin/python -m bench.acme [--repeat N] [--many N] [--certbot N]
[--certbot-venv DIR] [--check N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "acme.json"
CERTMGR = Path(sys.executable).parent / "certmgr"
GOALS = {"one_seconds": 0.2, "many_seconds_per_100": 10.0, "vs_certbot": 20.0,
         "check_seconds_10k": 1.0}


def _run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])}...: exit {done.returncode}: "
                         f"{(done.stderr or done.stdout)[-800:]}")
    return took


def compile_bytecode() -> None:
    """Compile certmgr's modules as ``pip install`` does: from a source checkout (editable
    install) under ``PYTHONDONTWRITEBYTECODE`` every run would compile them again, ~0.1 s
    that an installed certmgr never spends (certbot's venv is compiled by pip)."""
    import compileall

    import certmgr

    compileall.compile_dir(str(Path(certmgr.__file__).parent), quiet=1)


def bench_certmgr(pebble: Any, work: Path, repeat: int, many: int) -> dict[str, Any]:
    compile_bytecode()
    env = {**os.environ, "CERTMGR_HOME": str(work / "home"), "COLUMNS": "200"}
    env.pop("CERTMGR_DB", None)
    port = f"127.0.0.1:{pebble.http_port}"
    _run([str(CERTMGR), "issuer", "add", "pebble", "--acme", pebble.directory, "--ca-bundle",
          str(pebble.ca_bundle), "--agree-tos", "--profile", "default"], env)
    _run([str(CERTMGR), "define", "one", "--cn", "one.example.test", "--issuer", "pebble",
          "--standalone-port", port], env)
    one = [_run([str(CERTMGR), "-q", "issue", "one"], env) for _ in range(repeat)]
    toml = work / "many.toml"
    toml.write_text("[defaults]\nissuer = \"pebble\"\n" + "".join(
        f'[definitions."m{i}.example.test"]\nstandalone_port = "{port}"\n'
        for i in range(many)))
    _run([str(CERTMGR), "apply", str(toml)], env)
    names = [f"m{i}.example.test" for i in range(many)]
    many_s = _run([str(CERTMGR), "-q", "issue", *names], env)
    return {"one_median_s": statistics.median(one), "one_runs_s": one,
            "many": many, "many_s": many_s, "many_per_cert_s": many_s / many}


def bench_certbot(pebble: Any, work: Path, venv: Path, runs: int) -> dict[str, Any]:
    certbot = venv / "bin" / "certbot"
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(pebble.ca_bundle)}
    base = [str(certbot), "--config-dir", str(work / "cb"), "--work-dir", str(work / "cb"),
            "--logs-dir", str(work / "cb"), "--server", pebble.directory, "-n", "--agree-tos"]
    _run([*base, "register", "--register-unsafely-without-email"], env)
    times = [_run([*base, "certonly", "--standalone", "--http-01-address", "127.0.0.1",
                   "--http-01-port", str(pebble.http_port), "-d",
                   f"cb{i}.example.test"], env) for i in range(runs)]
    return {"median_s": statistics.median(times), "runs_s": times}


def bench_check(count: int, work: Path) -> dict[str, Any]:
    """10,000 ACME definitions with current certificates and stored ARI answers."""
    from bench._fill import bulk_insert
    from certmgr.app.acme_renewal import refresh_renewal_info
    from certmgr.monitor.renewal import due_renewals
    from certmgr.repository import open_repository

    repo = open_repository(None, work / "check-home")
    now = dt.datetime.now(dt.UTC)
    later = (now + dt.timedelta(hours=6)).isoformat()
    defs, certs = [], []
    for i in range(count):
        sha = f"{i:064x}"
        state = {"sha256": sha, "window_start": (now + dt.timedelta(days=50)).isoformat(),
                 "window_end": (now + dt.timedelta(days=52)).isoformat(), "next_check": later,
                 "renew_at": (now + dt.timedelta(days=51)).isoformat()}
        defs.append({"id": i + 1, "name": f"c{i}", "cn": f"c{i}.example.test", "sans": [],
                     "key_type": "ec256", "validity_seconds": 90 * 86400, "issuer": "pebble",
                     "renew_before_seconds": 0, "targets": [], "created": now, "updated": now,
                     "data": {"acme": {"issuers": ["pebble"], "challenge": "http-01"},
                              "acme_state": state}})
        certs.append({"definition_id": i + 1, "version": 1, "serial": f"{i:x}", "sha256": sha,
                      "subject": f"CN=c{i}", "sans": [f"c{i}.example.test"],
                      "not_before": now, "not_after": now + dt.timedelta(days=90),
                      "issuer": "pebble", "cert_pem": "-", "chain_pem": "", "key_id": None,
                      "state": "current", "created": now})
    bulk_insert(repo, [("definitions", defs), ("certificates", certs)])
    start = time.perf_counter()
    problems = refresh_renewal_info(repo, now)
    due = due_renewals(repo, now)
    took = time.perf_counter() - start
    repo.close()
    assert not problems and not due, (problems[:3], due[:3])
    return {"count": count, "seconds": took}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.acme")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--many", type=int, default=100)
    parser.add_argument("--certbot", type=int, default=3)
    parser.add_argument("--certbot-venv", type=Path, default=None)
    parser.add_argument("--check", type=int, default=10000)
    args = parser.parse_args(argv)
    from certmgr.testing.acme import find_named, find_pebble, run_named, run_pebble

    if find_pebble() is None or find_named() is None:
        print("bench.acme: pebble 2.10 or named missing: run .ci/install-packages as root",
              file=sys.stderr)
        return 2
    out: dict[str, Any] = {"machine": platform.node(), "load": os.getloadavg(),
                           "when": dt.datetime.now(dt.UTC).isoformat(), "goals": GOALS}
    with tempfile.TemporaryDirectory(prefix="certmgr-bench-acme-") as tmp:
        work = Path(tmp)
        with run_named(work / "named") as named, \
                run_pebble(work / "pebble", named.server) as pebble:
            out["certmgr"] = bench_certmgr(pebble, work, args.repeat, args.many)
            if args.certbot_venv is not None:
                out["certbot"] = bench_certbot(pebble, work, args.certbot_venv, args.certbot)
                out["vs_certbot"] = (out["certbot"]["median_s"]
                                     / out["certmgr"]["one_median_s"])
        out["check"] = bench_check(args.check, work)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
