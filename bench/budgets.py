"""Whole-command speed budgets (issues 12 and 13): wall time, best of 5, each beside
``python -c pass`` measured in the same run (the machine is shared: the bare
interpreter's time says how loaded it was).

* ``certmgr --help``: budget 0.2 s.
* ``certmgr list --expiring 30d --json`` over N (default 100,000) current
  certificates, W (default 1,000) in the window: budget 1 s.
* ``certmgr status`` on a home like the demo's (the built-in CA, five issued
  definitions with targets, a deployment and an observation each): budget 0.5 s.
* The first command on a fresh home (``certmgr list --json`` creating the home,
  the schema and the master key), issue 13; no budget, reported.

Each command's best CPU seconds (user + system) are reported too: on a loaded
machine they say more than wall time. Also the import cost, in the same run, of
what the repository may load: ``sqlite3``, ``psycopg`` (PostgreSQL URLs only)
and, if installed, SQLAlchemy with Alembic (the previous implementation), and the
whole ``certmgr.repository``.

With ``--compare EXE`` the same commands are also timed with another certmgr
executable on the same homes (e.g. the previous version's, for the figures beside
today's). Writes bench/results/budgets.json. Run: ``.venv/bin/python -m bench.budgets
[--rows N] [--window W] [--compare EXE]``. The temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._fill import bulk_insert

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "budgets.json"
CERTMGR = Path(sys.executable).parent / "certmgr"
REPEAT = 5
BUDGETS = {"help": 0.2, "list_expiring_100k": 1.0, "status_demo_like": 0.5}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTMGR_")}
    return {**env, "CERTMGR_HOME": str(home), "COLUMNS": "120"}


CPU: dict[str, float] = {}  # label -> best CPU seconds (user + system) of the child


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wall(argv: list[str], env: dict[str, str], *, check: bool = True,
          label: str = "") -> float:
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    elapsed = time.perf_counter() - start
    if label:
        CPU[label] = round(min(CPU.get(label, float("inf")), _children_cpu() - cpu), 4)
    if check and proc.returncode not in (0, 1):  # status exits 1 when it finds problems
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return elapsed


def _best(argv: list[str], env: dict[str, str], *, before: Any = None,
          label: str = "") -> float:
    best = float("inf")
    for _ in range(REPEAT):
        if before is not None:
            before()
        best = min(best, _wall(argv, env, label=label))
    return round(best, 4)


def _python_pass(env: dict[str, str]) -> float:
    return _best([sys.executable, "-c", "pass"], env, label="python_c_pass")


def _import_cost(module: str, env: dict[str, str]) -> float | None:
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        return None
    return _best([sys.executable, "-c", f"import {module}"], env)


# -- homes ----------------------------------------------------------------------------

def demo_like_home(home: Path) -> None:
    """The built-in CA and five issued definitions with a target, a deployment and an
    observation each (what `certmgr status` reads on the demo's home)."""
    from certmgr.issuers import make_definition
    from certmgr.repository import DeploymentState, ObservationRecord, open_repository

    env = _env(home)
    _wall([str(CERTMGR), "ca", "init", "-q"], env)
    names = ["www", "mail", "ldap", "ftp", "proxy"]
    with open_repository(None, home) as repo:
        for i, name in enumerate(names):
            d = make_definition(name, f"{name}.example.org")
            repo.save_definition(d.__class__(**{**d.__dict__,
                                                "targets": (f"lab{i}/nginx:{name}",)}))
    _wall([str(CERTMGR), "issue", "--all", "-q"], env)
    now = dt.datetime.now(dt.UTC)
    with open_repository(None, home) as repo:
        for i, name in enumerate(names):
            cert = repo.current_certificate(name)
            assert cert is not None
            dep = repo.create_deployment(name, cert.version, f"lab{i}/nginx:{name}")
            repo.update_deployment(dep.id, DeploymentState.VERIFIED)
            repo.add_observation(ObservationRecord(
                address=f"127.0.0.{i + 1}", port=443, tls="direct", time=now, ok=True,
                host=f"lab{i}", sni=f"{name}.example.org", leaf_sha256=cert.sha256,
                not_after=cert.not_after))


def large_home(home: Path, rows: int, window: int) -> float:
    """``rows`` definitions with one current certificate each (real certificates of the
    built-in CA), ``window`` of them expiring within 30 days."""
    from certmgr.repository import open_repository

    _wall([str(CERTMGR), "init", "-q"], _env(home))
    start = time.perf_counter()
    defs, certs = large_rows(rows, window)
    with open_repository(None, home) as repo:
        bulk_insert(repo, [("definitions", defs), ("certificates", certs)])
    return time.perf_counter() - start


def large_rows(rows: int, window: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of :func:`large_home`: definitions (ids 1..rows, each targeting
    ``web{i % 50}/nginx:NAME``) and their current certificates."""
    from certmgr.issuers import create_ca
    from certmgr.pki import KeyType, certificate_pem, generate_key, issue_server

    ca = create_ca("Bench Root CA")
    key = generate_key(KeyType.EC256)
    soon = certificate_pem(issue_server(ca.intermediate, ca.intermediate_key, key.public_key(),
                                        ["soon.example.com"], dt.timedelta(days=20))).decode()
    later = certificate_pem(issue_server(ca.intermediate, ca.intermediate_key,
                                         key.public_key(), ["later.example.com"],
                                         dt.timedelta(days=300))).decode()
    chain = certificate_pem(ca.intermediate).decode()
    now = dt.datetime.now(dt.UTC)
    defs, certs = [], []
    for i in range(rows):
        span = (dt.timedelta(days=1 + 28 * i / window) if i < window
                else dt.timedelta(days=60 + 300 * (i - window) / max(1, rows - window)))
        name = f"host{i}.example.com"
        defs.append({"id": i + 1, "name": name, "cn": name, "sans": [], "key_type": "ec256",
                     "validity_seconds": 397 * 86400, "issuer": "builtin",
                     "renew_before_seconds": 30 * 86400,
                     "targets": [f"web{i % 50}/nginx:{name}"], "data": {},
                     "created": now, "updated": now})
        certs.append({"id": i + 1, "definition_id": i + 1, "version": 1,
                      "serial": format(i + 1, "x"),
                      "sha256": format(i, "064x"), "subject": f"CN={name}", "sans": [name],
                      "not_before": now - dt.timedelta(days=10), "not_after": now + span,
                      "issuer": "builtin", "cert_pem": soon if i < window else later,
                      "chain_pem": chain, "key_id": None, "state": "current",
                      "created": now})
    return defs, certs


# -- main -----------------------------------------------------------------------------

def _commands(certmgr: Path, small: Path, large: Path, fresh: Path,
              tag: str) -> dict[str, float]:
    exe = str(certmgr)
    return {
        "help": _best([exe, "--help"], _env(small), label=f"{tag}help"),
        "list_expiring_100k": _best([exe, "list", "--expiring", "30d", "--json"], _env(large),
                                    label=f"{tag}list_expiring_100k"),
        "status_demo_like": _best([exe, "status"], _env(small), label=f"{tag}status_demo_like"),
        "first_command_fresh_home": _best(
            [exe, "list", "--json"], _env(fresh),
            before=lambda: shutil.rmtree(fresh, ignore_errors=True),
            label=f"{tag}first_command_fresh_home"),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.budgets")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1_000)
    parser.add_argument("--compare", type=Path, help="another certmgr executable to time")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-budgets-"))
    try:
        small, large, fresh = tmp / "small", tmp / "large", tmp / "fresh"
        demo_like_home(small)
        fill = large_home(large, args.rows, args.window)
        env = _env(small)
        pass_before = _python_pass(env)
        commands = _commands(CERTMGR, small, large, fresh, "")
        compared = (_commands(args.compare, small, large, fresh, "compared_")
                    if args.compare else None)
        imports = {m: _import_cost(m, env) for m in (
            "sqlite3", "psycopg", "sqlalchemy", "sqlalchemy.orm", "alembic.command",
            "certmgr.repository.api")}
        pass_after = _python_pass(env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    python_pass = min(pass_before, pass_after)
    result = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_1min": round(os.getloadavg()[0], 2),
        "repeat": f"best of {REPEAT}, wall seconds",
        "rows": args.rows, "window": args.window, "fill_seconds": round(fill, 2),
        "python_c_pass": python_pass, "python_c_pass_before_and_after": [pass_before,
                                                                           pass_after],
        "commands": commands,
        **({"compared": {"executable": str(args.compare), "commands": compared}}
           if compared else {}),
        "budgets": BUDGETS,
        "within_budget": {k: commands[k] <= v for k, v in BUDGETS.items()},
        "import_seconds_wall": imports,
        "cpu_seconds_best": CPU,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(result["within_budget"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
