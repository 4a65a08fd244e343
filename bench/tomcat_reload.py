"""Tomcat's ways to load a new certificate, side by side: manager, JMX, restart.

On a Tomcat-only lab host, each round deploys a new certificate (the same engine,
the same checks) four times, once per way Tomcat can be made to load it:

* ``manager``: the manager's ``sslReload`` (tomcat-users.xml has a manager-script user);
* ``jmx_first``: the manager user left out (certmgr's lookup of it answers none), so
  JMX ``reloadSslHostConfigs``; the first time after
  a JVM start, when the client also starts the JVM's local management agent;
* ``jmx``: the same with the agent already up;
* ``restart``: JMX left out, so Tomcat is restarted (the peer: what a deploy does
  without an in-process reload).

Measured per deployment, from the ``reload`` checkpoint (files in place, config test
done): ``reload`` until the reload step returns, and ``reload_verify`` until the new
certificate is served on 8443 with a completed handshake (the engine's verify).
Which way was taken is read from what the reload step recorded, never assumed.

Writes bench/results/tomcat_reload.json: per way the samples and median, and the
ratios restart / jmx (how many times longer a restart takes). Needs root (the lab).
Run: ``.venv/bin/python -m bench.tomcat_reload [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from certmgr.deploy.checkpoints import add_hook
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.fsops import write_state_file
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.model import DeployPlan, Outcome
from certmgr.deploy.targets import slot_targets
from certmgr.hosts.lab import LabHost
from certmgr.hosts.servicetable import SERVICE_TABLE_PATH, load_service_table
from certmgr.lab import lab_down, lab_up
from certmgr.programs import discover_host
from certmgr.programs import tomcat as tomcat_program
from certmgr.programs.tomcat.jmx import JmxAttempt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "tomcat_reload.json"
sys.path.insert(0, str(ROOT))

from tests.deploy.lab_support import material_for  # noqa: E402 - after the path is set
from tests.deploy.material import TestCA  # noqa: E402

WAYS = ("manager", "jmx_first", "jmx", "restart")


class Clock:
    """Times of the reload checkpoint and of the recorder's reloaded/verified updates."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {}
        self.how = ""

    def checkpoint(self, name: str) -> None:
        if name == "reload":
            self.marks["reload"] = time.monotonic()

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        return None

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        self.marks[state] = time.monotonic()
        if state == "reloaded" and data is not None:
            self.how = str(data["reload"])


def _way(how: str) -> str:
    if how.startswith("manager sslReload"):
        return "manager"
    if how.startswith("JMX reloadSslHostConfigs"):
        return "jmx_first" if "starting the JVM's local management agent" in how else "jmx"
    return "restart" if how.startswith("restart") else f"other: {how}"


def _deploy(host: LabHost, ca: TestCA, tmp: Path) -> tuple[str, float, float]:
    (target,) = [t for t in slot_targets(host.name, discover_host(host).slots())
                 if t.kind.value == "tomcat"]
    clock = Clock()
    engine = Engine(FileJournalStore(tmp / "journal"), KeyFileCipher(tmp / "key"),
                    recorder=clock, options=EngineOptions(verify_timeout=120))
    remove = add_hook(clock.checkpoint)
    try:
        outcome = engine.deploy(host, target, material_for(ca, target))
    finally:
        remove()
    if outcome.outcome is not Outcome.VERIFIED:
        raise SystemExit(f"deploy to Tomcat failed: {outcome.outcome.value}: {outcome.reason}")
    m = clock.marks
    return _way(clock.how), m["reloaded"] - m["reload"], m["verified"] - m["reload"]


def _no_jmx(*args: Any, **kwargs: Any) -> JmxAttempt:
    return JmxAttempt(False, "left out by bench.tomcat_reload")


def _no_manager(*args: Any, **kwargs: Any) -> None:
    return None  # as if tomcat-users.xml had no manager-script user


def run(rounds: int, tmp: Path) -> dict[str, Any]:
    ca = TestCA()
    state = lab_up(tmp / "lab", programs=["tomcat"])
    try:
        host = state.hosts[0].host()
        table = load_service_table(host)
        assert table is not None
        # The table's reload is the manager's sslReload through curl: leave it out, so
        # with no manager user and no JMX the way left is the restart.
        write_state_file(host, SERVICE_TABLE_PATH,
                         table.with_entry(replace(table.get("tomcat"), reload=None)).dumps())
        samples: dict[str, list[dict[str, float]]] = {}
        real = {name: getattr(tomcat_program, name)
                for name in ("jmx_reload", "_manager_credentials")}
        # manager; JMX twice (the first after a JVM start also starts its agent); restart.
        steps: tuple[dict[str, Any], ...] = ({}, {"_manager_credentials": _no_manager},
                                            {"_manager_credentials": _no_manager},
                                            {"_manager_credentials": _no_manager,
                                             "jmx_reload": _no_jmx})
        for _ in range(rounds):
            for patches in steps:
                for name, value in patches.items():
                    setattr(tomcat_program, name, value)
                try:
                    way, reload_s, verify_s = _deploy(host, ca, tmp)
                finally:
                    for name, value in real.items():
                        setattr(tomcat_program, name, value)
                samples.setdefault(way, []).append(
                    {"reload": round(reload_s, 3), "reload_verify": round(verify_s, 3)})
                print(f"{way:10} reload {reload_s:6.2f} s   reload+verify {verify_s:6.2f} s",
                      flush=True)
    finally:
        lab_down(tmp / "lab")
    return samples


def summary(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    medians = {way: {k: round(statistics.median(s[k] for s in runs), 3)
                     for k in ("reload", "reload_verify")}
               for way, runs in samples.items()}
    ratios: dict[str, float] = {}
    for way in ("jmx", "jmx_first", "manager"):
        if way in medians and "restart" in medians:
            ratios[f"restart_over_{way}"] = round(
                medians["restart"]["reload_verify"] / medians[way]["reload_verify"], 2)
    return {"median_seconds": medians, "ratios_reload_verify": ratios, "samples": samples}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tomcat_reload")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.tomcat_reload needs root (the lab)", file=sys.stderr)
        return 2
    results: dict[str, Any] = {
        "machine": {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="certmgr-bench-tomcat-") as tmp:
        results.update(summary(run(args.rounds, Path(tmp))))
    results["machine"]["load_average_at_end"] = os.getloadavg()
    print(json.dumps({k: results[k] for k in ("median_seconds", "ratios_reload_verify")},
                     indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
