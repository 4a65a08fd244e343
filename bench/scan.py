"""Scan speed: ``certmgr scan`` vs a bare asyncio handshake loop vs sslyze 6, same endpoints.

Starts nginx (one worker, an ECDSA leaf + intermediate chain) listening on
2,000 ports of 127.0.0.1 with its own prefix in a temporary directory, then,
in one run and against the same endpoints:

* ``certmgr scan --json`` over all of them (the real command, a subprocess:
  interpreter start, probes, checks and JSON output included), warm (the
  chain trusted with ``--ca``, no system store, ``--concurrency 256``);
* the same command cold, as a new user first runs it: a fresh home each run,
  default options (system trust, so the bench's chain is untrusted and every
  result carries findings; default concurrency);
* the engine alone, in this process (the same probes without the CLI), as
  ``scan`` runs it (one event loop per CPU) and on a single event loop;
* a bare stdlib asyncio loop written here: ``asyncio.open_connection`` with
  TLS, the peer certificate read, close; same concurrency, run as a
  subprocess like certmgr; and the same loop on uvloop (streams, not a memory BIO);
* sslyze 6's certificate-info scan (``sslyze --certinfo``), installed in a
  throwaway venv in the temporary directory (never committed);
* certmgr's peak memory (RSS) scanning 10,000 endpoints (the 2,000 ports five times).

Writes bench/results/scan.json with rates and ratios. Run with
``.venv/bin/python -m bench.scan [--ports N] [--sslyze-ports N] [--no-sslyze]``.
nginx is stopped by its pid; the temporary directory is removed at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trustme

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "scan.json"
VENV_BIN = Path(sys.executable).parent
CONCURRENCY = 256
FIRST_PORT = 20000  # below the ephemeral range, so client sockets never collide with listeners

# The peer: what a developer would write with asyncio's streams in a few lines.
BARE_LOOP = r'''
import asyncio, ssl, sys, time

async def main(targets, concurrency):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(concurrency)
    ok = 0

    async def one(host, port):
        nonlocal ok
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=ctx), 5)
                if writer.get_extra_info("ssl_object").getpeercert(binary_form=True):
                    ok += 1
                writer.close()
                await writer.wait_closed()
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                pass

    await asyncio.gather(*(one(h, int(p)) for h, p in targets))
    return ok

targets = [line.strip().rsplit(":", 1) for line in open(sys.argv[1]) if line.strip()]
if sys.argv[3:] == ["uvloop"]:
    import uvloop
    print(uvloop.run(main(targets, int(sys.argv[2]))))
else:
    print(asyncio.run(main(targets, int(sys.argv[2]))))
'''


def free_ports(count: int, start: int = FIRST_PORT) -> list[int]:
    """``count`` ports on 127.0.0.1 that nothing listens on now."""
    ports: list[int] = []
    port = start
    while len(ports) < count and port < 32768:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                ports.append(port)
            except OSError:
                pass
        port += 1
    if len(ports) < count:
        raise SystemExit(f"only {len(ports)} free ports between {start} and 32767")
    return ports


def write_pki(workdir: Path) -> Path:
    """An ECDSA root -> intermediate -> leaf; returns the root's PEM file."""
    root = trustme.CA(key_type=trustme.KeyType.ECDSA)
    intermediate = root.create_child_ca(key_type=trustme.KeyType.ECDSA)
    leaf = intermediate.issue_cert("bench.example.com", "127.0.0.1",
                                   key_type=trustme.KeyType.ECDSA)
    (workdir / "fullchain.pem").write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems))
    fd = os.open(workdir / "leaf.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(leaf.private_key_pem.bytes())
    root.cert_pem.write_to_path(str(workdir / "root.pem"))
    return workdir / "root.pem"


def nginx_conf(workdir: Path, ports: list[int]) -> Path:
    listens = "\n".join(f"        listen 127.0.0.1:{p} ssl;" for p in ports)
    conf = f"""
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/tmp;
    proxy_temp_path {workdir}/tmp;
    fastcgi_temp_path {workdir}/tmp;
    uwsgi_temp_path {workdir}/tmp;
    scgi_temp_path {workdir}/tmp;
    server {{
{listens}
        ssl_certificate {workdir}/fullchain.pem;
        ssl_certificate_key {workdir}/leaf.key;
        ssl_session_cache off;
        ssl_session_tickets off;
        return 204;
    }}
}}
"""
    path = workdir / "nginx.conf"
    path.write_text(conf)
    (workdir / "tmp").mkdir()
    return path


@contextmanager
def nginx(workdir: Path, ports: list[int]) -> Iterator[int]:
    """Run nginx in the foreground as our child; stop it by pid."""
    conf = nginx_conf(workdir, ports)
    proc = subprocess.Popen(["nginx", "-p", str(workdir), "-c", str(conf), "-e",
                             str(workdir / "error.log")], stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not _listening(ports[-1]):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("nginx did not start: " + (workdir / "error.log").read_text())
            time.sleep(0.05)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def timed_child(argv: list[str], stdout_path: Path | None = None) -> dict[str, Any]:
    """Run a command; its wall time, CPU time, exit status and peak RSS (that child alone)."""
    out = stdout_path.open("wb") if stdout_path else subprocess.DEVNULL
    try:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdout_path:
            out.close()  # type: ignore[union-attr]
    return {"seconds": elapsed, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "exit": proc.returncode, "peak_rss_mb": usage.ru_maxrss / 1024}


def certmgr_argv(workdir: Path, targets: Path, root: Path) -> list[str]:
    return [str(VENV_BIN / "certmgr"), "--home", str(workdir / "home"), "scan", "--json",
            "-q", "--from", str(targets), "--no-system-trust", "--ca", str(root),
            "--concurrency", str(CONCURRENCY)]


def certmgr_cold_argv(home: Path, targets: Path) -> list[str]:
    """A first scan: a home that does not exist yet, every option at its default."""
    return [str(VENV_BIN / "certmgr"), "--home", str(home), "scan", "--json", "-q",
            "--from", str(targets)]


def run_certmgr(workdir: Path, argv: list[str]) -> dict[str, Any]:
    """The real command, as a subprocess, with its JSON output counted."""
    out = workdir / "scan.json"
    run = timed_child(argv, out)
    doc = json.loads(out.read_text())
    run["count"] = len(doc["results"])
    run["ok"] = sum(r["ok"] for r in doc["results"])
    run["clean"] = sum(not r["findings"] for r in doc["results"])
    return run


def run_engine(ports: list[int], *, threaded: bool = True) -> dict[str, Any]:
    """The probe engine alone, in this process: as ``scan`` runs it, or on one event loop."""
    from certmgr.probe import ProbeOptions, Prober, Target, run_async

    prober = Prober(ProbeOptions(concurrency=CONCURRENCY))
    targets = [Target("127.0.0.1", p) for p in ports]
    start, cpu = time.perf_counter(), time.process_time()
    results = (prober.probe_threaded(targets) if threaded
               else run_async(prober.probe_all(targets)))
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
            "ok": sum(r.ok for r in results), "count": len(results)}


def run_bare_loop(workdir: Path, targets: Path, *, uvloop: bool = False) -> dict[str, Any]:
    script = workdir / "bare_loop.py"
    script.write_text(BARE_LOOP)
    out = workdir / "bare.txt"
    argv = [sys.executable, str(script), str(targets), str(CONCURRENCY)]
    run = timed_child(argv + (["uvloop"] if uvloop else []), out)
    run["ok"] = int(out.read_text().strip() or 0)
    return run


def cli_startup(workdir: Path) -> float:
    """Best of three: seconds for ``certmgr --version`` (interpreter and imports)."""
    argv = [str(VENV_BIN / "certmgr"), "--home", str(workdir / "home"), "--version"]
    return min(timed_child(argv)["seconds"] for _ in range(3))


def install_sslyze(workdir: Path) -> Path | None:
    venv = workdir / "sslyze-venv"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], check=False,
                          capture_output=True)
    if made.returncode:
        return None
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "sslyze>=6,<7"],
                         check=False, capture_output=True, text=True)
    if pip.returncode:
        print(f"sslyze could not be installed: {pip.stderr.strip()[-300:]}", file=sys.stderr)
        return None
    return venv / "bin" / "sslyze"


def run_sslyze(sslyze: Path, workdir: Path, ports: list[int]) -> dict[str, Any]:
    targets = workdir / "sslyze-targets.txt"
    targets.write_text("".join(f"127.0.0.1:{p}\n" for p in ports))
    out = workdir / "sslyze.json"
    run = timed_child([str(sslyze), "--certinfo", f"--targets_in={targets}",
                       f"--json_out={out}", "--quiet"])
    run["ok"] = 0
    if out.exists():
        doc = json.loads(out.read_text())
        run["ok"] = sum(r.get("scan_status") == "COMPLETED"
                        for r in doc.get("server_scan_results", []))
    run["count"] = len(ports)
    return run


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def summary(runs: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """The best run (highest rate) of a contender, with every rate and CPU per endpoint."""
    best = min(runs, key=lambda r: r["seconds"])
    return {**{k: round(v, 3) if isinstance(v, float) else v for k, v in best.items()},
            "per_second": round(count / best["seconds"], 1),
            "cpu_us_per_endpoint": round(best["cpu_seconds"] / count * 1e6),
            "all_per_second": [round(count / r["seconds"], 1) for r in runs]}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each fast contender, interleaved; the best counts")
    parser.add_argument("--sslyze-ports", type=int, default=None,
                        help="scan only the first N ports with sslyze (default: all)")
    parser.add_argument("--no-sslyze", action="store_true")
    parser.add_argument("--memory-endpoints", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    if shutil.which("nginx") is None:
        print("nginx is not installed (apt-get install nginx-light)", file=sys.stderr)
        return 2
    raise_fd_limit()
    workdir = Path(tempfile.mkdtemp(prefix="certmgr-bench-scan-"))
    try:
        return _bench(workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _bench(workdir: Path, args: argparse.Namespace) -> int:
    ports = free_ports(args.ports)
    root = write_pki(workdir)
    targets = workdir / "targets.txt"
    targets.write_text("".join(f"127.0.0.1:{p}\n" for p in ports))
    many = workdir / "targets-10k.txt"
    many.write_text(targets.read_text() * max(1, args.memory_endpoints // len(ports)))
    sslyze = None if args.no_sslyze else install_sslyze(workdir)
    n = len(ports)
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "bare_uvloop": [], "certmgr": [],
                                             "certmgr_cold": [], "engine": [], "one_loop": []}
    with nginx(workdir, ports):
        run_engine(ports[:200])  # warm nginx and the page cache; not measured
        for i in range(args.rounds):
            runs["bare"].append(run_bare_loop(workdir, targets))
            runs["bare_uvloop"].append(run_bare_loop(workdir, targets, uvloop=True))
            runs["certmgr"].append(run_certmgr(workdir, certmgr_argv(workdir, targets, root)))
            cold_home = workdir / f"cold-home-{i}"  # never used before: a first run
            runs["certmgr_cold"].append(run_certmgr(workdir, certmgr_cold_argv(cold_home,
                                                                               targets)))
            runs["engine"].append(run_engine(ports))
            runs["one_loop"].append(run_engine(ports, threaded=False))
        memory = run_certmgr(workdir, certmgr_argv(workdir, many, root))
        sslyze_ports = ports[:args.sslyze_ports] if args.sslyze_ports else ports
        peer = run_sslyze(sslyze, workdir, sslyze_ports) if sslyze else None
    startup = cli_startup(workdir)
    report = _report(n, runs, memory, peer, len(sslyze_ports), startup, os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


def _report(n: int, runs: dict[str, list[dict[str, Any]]], memory: dict[str, Any],
            peer: dict[str, Any] | None, peer_count: int, startup: float,
            load: tuple[float, float, float]) -> dict[str, Any]:
    certmgr, cold, engine, one_loop, bare, bare_uv = (
        summary(runs[k], n) for k in ("certmgr", "certmgr_cold", "engine", "one_loop", "bare",
                                      "bare_uvloop"))
    report: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "endpoints": n,
        "concurrency": CONCURRENCY,
        "load_average_after": [round(x, 1) for x in load],
        "certmgr_scan": certmgr,
        "certmgr_scan_cold": cold,
        "certmgr_cli_startup_seconds": round(startup, 3),
        "certmgr_engine_in_process": engine,
        "certmgr_engine_one_loop": one_loop,
        "bare_asyncio_loop": bare,
        "bare_loop_on_uvloop": bare_uv,
        "memory": {"endpoints": memory["count"], "ok": memory["ok"],
                   "peak_rss_mb": round(memory["peak_rss_mb"], 1),
                   "seconds": round(memory["seconds"], 2), "goal_mb": 200},
        "sslyze": None if peer is None else summary([peer], peer_count),
        "ratio_vs_bare_loop": round(certmgr["per_second"] / bare["per_second"], 2),
        "ratio_cold_vs_bare_loop": round(cold["per_second"] / bare["per_second"], 2),
        "goal_ratio_vs_bare_loop": 1.2,
        "ratio_engine_vs_bare_loop": round(engine["per_second"] / bare["per_second"], 2),
        "ratio_one_loop_vs_bare_loop": round(one_loop["per_second"] / bare["per_second"], 2),
        "ratio_bare_uvloop_vs_bare_loop": round(bare_uv["per_second"] / bare["per_second"], 2),
        "ratio_cpu_bare_vs_one_loop": round(bare["cpu_us_per_endpoint"]
                                            / max(one_loop["cpu_us_per_endpoint"], 1), 2),
        "ratio_vs_sslyze": None,
    }
    if report["sslyze"] is not None and report["sslyze"]["per_second"]:
        report["ratio_vs_sslyze"] = round(certmgr["per_second"]
                                          / report["sslyze"]["per_second"], 1)
    else:
        report["sslyze_note"] = "sslyze 6 could not be installed, or was skipped"
    return report


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
