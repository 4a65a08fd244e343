"""Exim 4.96's ways to pick up a new certificate, side by side: none, SIGHUP, restart.

On an Exim-only lab host (Debian's unsplit configuration, Exim's own pair under
/etc/exim4/ssl), each round puts a new pair in place (written beside the old
files and renamed over them, as deploy does) and then:

* ``watch``: sends nothing. Exim's daemon watches its certificate files and
  reloads them by itself;
* ``sighup``: ``kill -HUP`` to the daemon, which re-executes itself (same pid);
* ``restart``: the daemon stopped and started again (the service table's way).

Measured per round: ``served_after`` (seconds from the files' rename, or from the
signal, until port 25 serves the new certificate); ``refused`` (connection attempts to
25 refused while a client tries one every few milliseconds, from the change until
the new certificate is served: an attempt Exim has not accepted within 5 ms, as it
accepts about 20 a second, counts as answered, since only a closed port refuses)
and ``refused_window_ms`` (first to last refusal); and whether an SMTP session that
did STARTTLS before the change still answers after it. ``served_after`` is longer
with that client running (Exim's accept queue is full); the ways' order is not.

Writes bench/results/exim4_reload.json. Needs root (the lab).
Run: ``.venv/bin/python -m bench.exim4_reload [--rounds 3]``.
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from certmgr.deploy.control import ServiceControl
from certmgr.hosts.lab import LabHost
from certmgr.lab import lab_down, lab_up
from certmgr.pki.write import certificates_pem

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "exim4_reload.json"
sys.path.insert(0, str(ROOT))

from tests.deploy.material import TestCA  # noqa: E402 - after the path is set

CERT = "/etc/exim4/ssl/certs/smtp.example.com.crt"
KEY = "/etc/exim4/ssl/private/smtp.example.com.key"
WAYS = ("watch", "sighup", "restart")
_HAMMER = """
import signal, socket, sys, time
refused, attempts = [], [0]
def done(*_):
    print(" ".join(refused), attempts[0], flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True:
    attempts[0] += 1
    try:  # a listener answers at once, or queues the attempt (Exim accepts ~20/s)
        socket.create_connection((sys.argv[1], 25), timeout=0.005).close()
    except ConnectionRefusedError:
        refused.append(repr(time.monotonic()))
    except OSError:
        pass
"""


def _smtp(address: str, port: int = 25) -> ssl.SSLSocket:
    sock = socket.create_connection((address, port), timeout=5)
    reader = sock.makefile("rb")
    reader.readline()
    sock.sendall(b"EHLO bench.example\r\n")
    while reader.readline()[3:4] == b"-":
        pass
    sock.sendall(b"STARTTLS\r\n")
    reader.readline()
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context.wrap_socket(sock)


def _served(address: str) -> bytes | None:
    try:
        with _smtp(address) as tls:
            return tls.getpeercert(binary_form=True)
    except OSError:
        return None


def _alive(session: ssl.SSLSocket) -> bool:
    try:
        session.sendall(b"NOOP\r\n")
        return session.recv(64).startswith(b"250")
    except OSError:
        return False


def _install(host: LabHost, ca: TestCA) -> bytes:
    """The next pair, renamed over the old files; returns the new leaf (DER)."""
    material = ca.material("smtp.example.com", ("smtp.example.com",))
    gid = next(g for g, name in host.groups().items() if name == "Debian-exim")
    host.write_file_atomic(KEY, material.key_pem, uid=0, gid=gid, mode=0o640,
                           temp_name=".bench.key.tmp")
    host.write_file_atomic(CERT, certificates_pem([material.cert, *material.chain]),
                           uid=0, gid=0, mode=0o644, temp_name=".bench.crt.tmp")
    return material.cert.public_bytes(Encoding.DER)


def _round(host: LabHost, ca: TestCA, way: str) -> dict[str, Any]:
    address = host.address or ""
    session = _smtp(address)
    # The client connecting in a tight loop is a process of its own (a thread would
    # wait for the GIL while this one probes): it prints each refusal's time.
    hammer = subprocess.Popen([sys.executable, "-c", _HAMMER, address],
                              stdout=subprocess.PIPE, text=True)
    control = ServiceControl(host)
    try:
        time.sleep(0.3)
        leaf = _install(host, ca)
        start = time.monotonic()
        if way == "sighup":
            pid = control.main_pid("exim4")
            host.run(["kill", "-HUP", str(pid)])
        elif way == "restart":
            control.restart("exim4", "exim4")
        while _served(address) != leaf:
            if time.monotonic() - start > 60:
                raise SystemExit(f"{way}: the new certificate was not served within 60 s")
            time.sleep(0.05)
        served_after = time.monotonic() - start
    finally:
        hammer.terminate()
        out, _err = hammer.communicate()
    lines = out.split()
    attempts, refusals = int(lines[-1]), [float(t) for t in lines[:-1]]
    survived = _alive(session)
    session.close()
    return {"served_after": round(served_after, 3), "connects": attempts,
            "refused": len(refusals),
            "refused_window_ms": round((max(refusals) - min(refusals)) * 1000, 1)
            if refusals else 0.0, "session_survived": survived}


def run(rounds: int, tmp: Path) -> dict[str, Any]:
    state = lab_up(tmp / "lab", programs=["exim4"])
    try:
        host = state.hosts[0].host()
        ca = TestCA()
        samples: dict[str, list[dict[str, Any]]] = {way: [] for way in WAYS}
        for _ in range(rounds):
            for way in WAYS:
                samples[way].append(_round(host, ca, way))
                time.sleep(6)  # let the file watch settle before the next change
        version = host.run(["exim4", "-bV"]).stdout.splitlines()[0]
    finally:
        lab_down(tmp / "lab")
    median = {way: {key: statistics.median(float(s[key]) for s in samples[way])
                    for key in ("served_after", "refused", "refused_window_ms")}
              for way in WAYS}
    return {"exim": version, "samples": samples, "median": median}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.exim4_reload")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="certmgr-bench-exim4-") as tmp:
        results = run(args.rounds, Path(tmp))
    results["machine"] = {"when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                          "cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps({"exim": results["exim"], "median": results["median"]}, indent=1))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
