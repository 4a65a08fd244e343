"""nginx and haproxy deploys on a lab host, beside Apache's in the same run.

For each program, ``--runs`` deploys of a fresh CA-issued certificate (plan,
preflight, apply, config test, reload, verify: the whole transaction) are timed
one at a time; the median is reported with its ratio to Apache's graceful
deploy, the seed's web server and the peer here. While each nginx and haproxy
deploy runs, a prober connects to the program's port without pause: the
``failed_probes`` count is how many connections were refused or reset during
the reload (0 means no client saw the reload). The same prober runs across a
restart of the program (stop, start, serve again) for comparison.

Writes bench/results/webproxy.json. Needs root (the lab).
Run: ``.venv/bin/python -m bench.webproxy [--runs 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from certmgr.deploy.control import ServiceControl
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.model import Outcome, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.deploy.verify import served_now
from certmgr.hosts.lab import LabHost
from certmgr.lab import lab_down, lab_up
from certmgr.lab.state import load_state
from certmgr.programs import discover_host

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "webproxy.json"
sys.path.insert(0, str(ROOT))

from tests.deploy.material import TestCA  # noqa: E402 - after the path is set

PROGRAMS = ("apache2", "nginx", "haproxy")
PROBED = ("nginx", "haproxy")


class Prober(threading.Thread):
    """Completes TLS handshakes with one endpoint back to back; counts the failures."""

    def __init__(self, address: str, port: int) -> None:
        super().__init__(daemon=True)
        self.address, self.port = address, port
        self.ok = self.failed = 0
        self.stop = threading.Event()
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with socket.create_connection((self.address, self.port), timeout=2) as raw, \
                        self.context.wrap_socket(raw):
                    self.ok += 1
            except OSError:
                self.failed += 1
                time.sleep(0.005)


def _engine(tmp: Path) -> Engine:
    return Engine(FileJournalStore(tmp / "journal"), KeyFileCipher(tmp / "key"),
                  options=EngineOptions(verify_timeout=60))


def _target(host: LabHost, kind: str) -> SlotTarget:
    found = slot_targets(host.name, discover_host(host).slots())
    return next(t for t in found if t.kind.value == kind)


def _probed(host: LabHost, target: SlotTarget, action: Any) -> tuple[float, dict[str, int]]:
    port = target.endpoints[0].port
    prober = Prober(host.address or "", port)
    prober.start()
    time.sleep(0.2)
    start = time.monotonic()
    action()
    elapsed = time.monotonic() - start
    time.sleep(0.2)
    prober.stop.set()
    prober.join()
    return elapsed, {"ok_probes": prober.ok, "failed_probes": prober.failed}


def _deploy_once(engine: Engine, host: LabHost, target: SlotTarget, ca: TestCA) -> None:
    names = tuple(dict.fromkeys(target.names or ("www.example.com",)))
    outcome = engine.deploy(host, target, ca.material(names[0], names))
    if outcome.outcome is not Outcome.VERIFIED:
        raise SystemExit(f"{target.target}: {outcome.outcome.value}: {outcome.reason}")


def _restart(host: LabHost, target: SlotTarget) -> None:
    """The disruptive peer: stop and start the program, until it serves again."""
    ServiceControl(host).restart(target.kind.value, target.kind.value)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(r.ok for r in served_now(target.endpoints, host.address).values()):
            return
        time.sleep(0.05)
    raise SystemExit(f"{target.kind.value} did not serve again within 30 s of a restart")


def bench(tmp: Path, runs: int) -> dict[str, Any]:
    ca = TestCA()
    lab_up(tmp / "lab", programs=list(PROGRAMS))
    try:
        state = load_state(tmp / "lab")
        assert state is not None
        host = state.hosts[0].host()
        engine = _engine(tmp / "home")
        out: dict[str, Any] = {}
        for kind in PROGRAMS:
            target = _target(host, kind)
            times, probes = [], {"ok_probes": 0, "failed_probes": 0}
            for _ in range(runs):
                if kind in PROBED:
                    elapsed, seen = _probed(host, target,
                                            lambda t=target: _deploy_once(engine, host, t, ca))
                    probes = {k: probes[k] + seen[k] for k in probes}
                else:
                    start = time.monotonic()
                    _deploy_once(engine, host, target, ca)
                    elapsed = time.monotonic() - start
                times.append(elapsed)
            out[kind] = {"deploy_s": times, "median_s": statistics.median(times)}
            if kind in PROBED:
                out[kind]["during_deploys"] = probes
                restart_s, seen = _probed(host, target, lambda t=target: _restart(host, t))
                out[kind]["restart_peer"] = {"restart_s": restart_s, **seen}
    finally:
        lab_down(tmp / "lab")
    apache = out["apache2"]["median_s"]
    for kind in PROBED:
        out[kind]["ratio_to_apache2"] = out[kind]["median_s"] / apache
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webproxy")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.webproxy needs root (the lab)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="certmgr-bench-webproxy-") as tmp:
        result = bench(Path(tmp), args.runs)
    report = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load": os.getloadavg()},
              "runs": args.runs, "programs": result}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for kind in PROGRAMS:
        r = result[kind]
        line = f"{kind:8} deploy median {r['median_s']:.2f} s"
        if kind in PROBED:
            d, p = r["during_deploys"], r["restart_peer"]
            line += (f" ({r['ratio_to_apache2']:.2f}x Apache's); failed connections during "
                     f"{args.runs} deploys {d['failed_probes']} of "
                     f"{d['ok_probes'] + d['failed_probes']}, during one restart "
                     f"{p['failed_probes']} of {p['ok_probes'] + p['failed_probes']}")
        print(line)
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
