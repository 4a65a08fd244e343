"""Discovery speed: an Apache tree with 1,000 vhosts in 1,000 included files.

Goal (issue 5): ``certmgr discover --root DIR --json`` under 1 s for the whole
command. Measured three ways: the command as a subprocess (interpreter start
included), the same discovery in-process, and the peer, certbot's Apache
parser (``certbot-apache``'s configurator listing the vhosts) on the same
tree, when a throwaway virtualenv with certbot-apache is given with
``--certbot-python`` (it is never installed in certmgr's venv). The peer runs
with a timeout; when it does not finish, the timeout is reported as a lower
bound. Writes bench/results/discover.json.

Run: ``.venv/bin/python -m bench.discover [--vhosts N] [--certbot-python PATH]
[--certbot-timeout S]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "discover.json"
CERTMGR = Path(sys.executable).parent / "certmgr"
GOAL_SECONDS = 1.0

APACHE2_CONF = """\
ServerRoot "/etc/apache2"
PidFile /var/run/apache2/apache2.pid
Timeout 300
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
ErrorLog /var/log/apache2/error.log
LogLevel warn
Listen 80
<IfModule ssl_module>
    Listen 443
</IfModule>
IncludeOptional conf-enabled/*.conf
IncludeOptional sites-enabled/*.conf
"""

VHOST = """\
<IfModule mod_ssl.c>
<VirtualHost *:443>
    ServerName site{n:04d}.example.com
    ServerAlias www.site{n:04d}.example.com
    ServerAdmin webmaster@site{n:04d}.example.com
    DocumentRoot /var/www/site{n:04d}
    ErrorLog /var/log/apache2/site{n:04d}-error.log
    CustomLog /var/log/apache2/site{n:04d}-access.log combined
    SSLEngine on
    SSLCertificateFile /etc/apache2/ssl/certs/site{n:04d}.example.com.crt
    SSLCertificateKeyFile /etc/apache2/ssl/private/site{n:04d}.example.com.key
    <Directory /var/www/site{n:04d}>
        Options -Indexes
        AllowOverride None
        Require all granted
    </Directory>
</VirtualHost>
</IfModule>
"""

CERTBOT_SCRIPT = textwrap.dedent("""\
    import sys, time
    from unittest import mock
    from certbot._internal.plugins.apache import override_debian

    server_root, work = sys.argv[1], sys.argv[2]
    cfg = mock.MagicMock()
    for opt, value in {"server_root": server_root, "vhost_root": server_root + "/sites-available",
                       "ctl": "apache2ctl", "bin": None, "challenge_location": server_root,
                       "handle_modules": False, "handle_sites": False,
                       "le_vhost_ext": "-le-ssl.conf", "logs_root": "/var/log/apache2"}.items():
        setattr(cfg, "apache_" + opt, value)
    import os
    for name in ("config_dir", "work_dir", "logs_dir", "temp_checkpoints", "in_progress_dir",
                 "backup_dir"):
        os.makedirs(os.path.join(work, name), mode=0o755)
        setattr(cfg, name, os.path.join(work, name))
    start = time.perf_counter()
    # Timed: certbot's parser reading the tree (Augeas) and listing the vhosts. Its runtime
    # probe (apache2ctl -t -D DUMP_RUN_CFG) is replaced by nothing: the tree defines no
    # variables, and Apache is not installed where the bench may run.
    with mock.patch("certbot._internal.plugins.apache.parser.ApacheParser."
                    "update_runtime_variables"):
        conf = override_debian.DebianConfigurator(config=cfg, name="apache")
        conf._prepare_options()
        conf.version = (2, 4, 57)
        conf.parser = conf.get_parser()
        vhosts = conf.get_virtual_hosts()
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.3f} {len(vhosts)} {sum(1 for v in vhosts if v.ssl)}")
""")


def build_tree(root: Path, vhosts: int) -> None:
    """A Debian-layout Apache tree: one file per vhost, each enabled by a symlink."""
    etc = root / "etc/apache2"
    for sub in ("sites-available", "sites-enabled", "conf-enabled", "ssl/certs", "ssl/private"):
        (etc / sub).mkdir(parents=True, exist_ok=True)
    (etc / "apache2.conf").write_text(APACHE2_CONF)
    (etc / "ports.conf").write_text("Listen 80\nListen 443\n")
    (etc / "envvars").write_text("export APACHE_RUN_USER=www-data\n")
    for n in range(vhosts):
        name = f"site{n:04d}.conf"
        (etc / "sites-available" / name).write_text(VHOST.format(n=n))
        (etc / "sites-enabled" / name).symlink_to(f"../sites-available/{name}")
    (root / "etc/hostname").write_text("bench.example.org\n")


def _timed(argv: list[str]) -> tuple[float, float, bytes]:
    """(wall seconds, CPU seconds of the child, stdout) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:2])} failed: {proc.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout


def time_cli(tree: Path, home: Path) -> dict[str, Any]:
    """Best of 3 of the whole command, and of ``certmgr --version`` (start-up alone).

    CPU seconds are given beside wall seconds: on a loaded 2-core machine the
    wall clock mostly measures the other processes.
    """
    argv = [str(CERTMGR), "discover", "--root", str(tree), "--json", "--no-store",
            "--home", str(home)]
    runs = [_timed(argv) for _ in range(3)]
    startup = [_timed([str(CERTMGR), "--version"]) for _ in range(3)]
    data = json.loads(runs[-1][2])
    return {"seconds": round(min(r[0] for r in runs), 3),
            "cpu_seconds": round(min(r[1] for r in runs), 3),
            "startup_seconds": round(min(r[0] for r in startup), 3),
            "startup_cpu_seconds": round(min(r[1] for r in startup), 3),
            "slots": sum(len(s["slots"]) for s in data["services"])}


def time_in_process(tree: Path) -> dict[str, Any]:
    from certmgr.hosts.local import LocalHost
    from certmgr.programs import discover_host

    best = None
    slots = 0
    for _ in range(3):
        start = time.perf_counter()
        result = discover_host(LocalHost(tree))
        elapsed = time.perf_counter() - start
        slots = len(result.slots())
        best = elapsed if best is None else min(best, elapsed)
    return {"seconds": round(best or 0.0, 3), "slots": slots}


def time_certbot(python: str, tree: Path, timeout: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="certmgr-bench-certbot-work."))
    script = work / "peer.py"
    script.write_text(CERTBOT_SCRIPT)
    start = time.perf_counter()
    try:
        proc = subprocess.run([python, str(script), str(tree / "etc/apache2"), str(work)],
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"finished": False, "seconds_at_least": timeout}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"finished": False, "error": proc.stderr.decode(errors="replace")[-800:]}
    parsed, found, ssl = proc.stdout.decode().split()[-3:]
    return {"finished": True, "seconds": round(float(parsed), 3), "wall_seconds": round(wall, 3),
            "vhosts": int(found), "ssl_vhosts": int(ssl)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.discover")
    parser.add_argument("--vhosts", type=int, default=1000)
    parser.add_argument("--certbot-python", help="python of a throwaway venv with certbot-apache")
    parser.add_argument("--certbot-timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="certmgr-bench-discover."))
    try:
        tree = tmp / "root"
        build_tree(tree, args.vhosts)
        result: dict[str, Any] = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "vhosts": args.vhosts,
            "goal_seconds": GOAL_SECONDS,
            "certmgr_discover_cli": time_cli(tree, tmp / "home"),
            "certmgr_discover_in_process": time_in_process(tree),
        }
        cli = result["certmgr_discover_cli"]
        result["goal_met"] = cli["seconds"] < GOAL_SECONDS and cli["slots"] == args.vhosts
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        if args.certbot_python:
            peer = time_certbot(args.certbot_python, tree, args.certbot_timeout)
            result["certbot_apache_parser"] = peer
            peer_seconds = peer.get("seconds") or peer.get("seconds_at_least")
            if peer_seconds:
                inproc = result["certmgr_discover_in_process"]["seconds"]
                result["ratio_certbot_over_certmgr_cli"] = round(peer_seconds / cli["seconds"], 1)
                result["ratio_certbot_over_certmgr_in_process"] = round(peer_seconds / inproc, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
