"""Renewal end to end on a lab host, in real time (no faked clock).

A definition with validity 2m and renew-before 1m targets every slot of a lab
host (the six programs, 12 ports). ``certmgr monitor --watch`` must renew it
exactly once per window and redeploy it by itself, every endpoint must then
serve the new serial, and a webhook receiver gets the notices.

The module brings up its own lab: its certificates are replaced here, so it is
not the session lab that other tests compare against.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from certmgr.issuers.definitions import make_definition
from certmgr.issuers.store import init_builtin_ca
from certmgr.lab.register import register_hosts
from certmgr.monitor.renewal import issue_with_issuer
from certmgr.monitor.renewal_deploy import EngineDeployer
from certmgr.probe.prober import ProbeOptions, Prober, run_async
from certmgr.probe.targets import Target
from certmgr.programs import discover_host
from certmgr.repository import DeploymentState, open_repository
from certmgr.testing.lab import RunningLab, running_lab
from certmgr.testing.notify_servers import WebhookReceiver

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VALIDITY = timedelta(minutes=2)
RENEW_BEFORE = timedelta(minutes=1)
RENEWALS = 2


@pytest.fixture(scope="module")
def lab() -> Iterator[RunningLab]:
    with tempfile.TemporaryDirectory(prefix="certmgr-renewal-lab-") as tmp:
        yield from running_lab(Path(tmp) / "lab", hosts=1)


def served(targets: list[Target]) -> dict[str, str | None]:
    results = run_async(Prober(ProbeOptions(timeout=10)).probe_all(targets))
    return {str(r.target): r.leaf_sha256 for r in results}


def test_watch_renews_once_per_window_and_redeploys_every_endpoint(
        lab: RunningLab, tmp_path: Path) -> None:
    home = tmp_path / "home"
    host_state = lab.state.hosts[0]
    host_name = f"lab:{host_state.name}"
    with open_repository(None, home) as repo:
        register_hosts(repo, lab.state)
        found = discover_host(lab.hosts[0])
        repo.save_discovery(host_name, [s.to_json() for s in found.services])
        slots = repo.list_slots(host_name)
        targets = sorted({Target.from_endpoint(e, host_state.address)
                          for s in slots for e in s.endpoints}, key=str)
        assert len({t.port for t in targets}) == 12, targets
        names = sorted({n for s in slots for n in s.names}) or ["lab1.example.com"]
        init_builtin_ca(repo)
        definition = repo.save_definition(make_definition(
            "seed", names[0], names[1:], validity=VALIDITY, renew_before=RENEW_BEFORE,
            targets=[s.target for s in slots]))
        first = issue_with_issuer(repo)(definition)
        initial = EngineDeployer(repo, home).deploy(definition, first)
        assert [o for o in initial if not o.ok] == []
        assert set(served(targets).values()) == {first.sha256}

    with WebhookReceiver() as hook:
        (home / "monitor.toml").write_text(
            "[monitor]\nprobe_timeout = \"10s\"\n\n"
            f"[[notify.webhook]]\nname = \"test\"\nurl = \"{hook.url}\"\n")
        env = {**os.environ, "CERTMGR_HOME": str(home)}
        env.pop("CERTMGR_DB", None)
        proc = subprocess.Popen(
            [sys.executable, "-m", "certmgr", "monitor", "--watch", "--interval", "5s"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            hook.wait_until(lambda posts: sum(p["event"] == "renewed" for p in posts)
                            >= RENEWALS, timeout=RENEWALS * 150 + 120)
        finally:
            # The next window opens a minute after the last renewal: stopping now never
            # interrupts a deploy.
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        posts = list(hook.posts)

    renewed = [p for p in posts if p["event"] == "renewed"]
    assert len(renewed) >= RENEWALS, (posts, err)
    assert [p for p in posts if p["state"] != "event"] == [], err  # no problem on the way

    with open_repository(None, home) as repo:
        versions = sorted(repo.list_certificates(definition="seed", current_only=False),
                          key=lambda c: c.version)
        current = repo.current_certificate("seed")
        assert current is not None
        # One new version per renewal notice, each issued once its predecessor's window
        # had opened and not before: exactly one renewal per window.
        assert [c.version for c in versions] == list(range(1, len(renewed) + 2))
        assert [p["detail"]["serial"] for p in renewed] == [c.serial for c in versions[1:]]
        for older, newer in itertools.pairwise(versions):
            opened = older.not_after - RENEW_BEFORE
            assert opened <= newer.created < older.not_after, (older, newer)
        # Every renewed version went to every target and was verified there.
        for cert in versions[1:]:
            for target in definition.targets:
                states = {(d.version, d.state) for d in repo.deployment_history(target)}
                assert (cert.version, DeploymentState.VERIFIED) in states, (target, states)
    assert set(served(targets).values()) == {current.sha256}
