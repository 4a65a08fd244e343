"""Tomcat's JMX reload: ``reloadSslHostConfigs`` through the attach API, and its fallbacks.

The lab tests share one Tomcat-only lab host whose tomcat-users.xml has no
manager-script user, so the manager's sslReload is not available and the JMX
step is what reloads Tomcat. The last test also drops the service table's
reload command, so when JMX cannot reach the JVM the fallback is a restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from certmgr.deploy.control import ServiceControl
from certmgr.deploy.engine import Engine, EngineOptions
from certmgr.deploy.fsops import write_state_file
from certmgr.deploy.journal import FileJournalStore, KeyFileCipher
from certmgr.deploy.model import DeployPlan, Outcome, SlotTarget
from certmgr.deploy.targets import slot_targets
from certmgr.hosts.base import WritableHost
from certmgr.hosts.local import LocalHost
from certmgr.hosts.servicetable import (
    SERVICE_TABLE_PATH,
    ServiceEntry,
    ServiceTable,
    load_service_table,
)
from certmgr.hosts.ssh import SSHHost
from certmgr.programs import ServiceKind, discover_host
from certmgr.programs.tomcat import jmx as tomcat_jmx
from certmgr.programs.tomcat.jmx import JvmProcess, client_source, jmx_reload
from certmgr.testing import skip_or_fail
from certmgr.testing.faults import at_checkpoint
from certmgr.testing.lab import RunningLab, running_lab
from tests.deploy.lab_support import material_for, served
from tests.deploy.material import TestCA

TOMCAT = ServiceKind.TOMCAT
_NO_MANAGER_USERS = b"""<?xml version="1.0" encoding="UTF-8"?>
<tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
  <!-- no manager-script user: certmgr cannot use the manager's sslReload -->
</tomcat-users>
"""


_IDLE = ('public class Idle { public static void main(String[] a) throws Exception { '
         'System.out.println("up"); Thread.sleep(600000); } }\n')


class ReloadRecorder:
    """Keeps what each deployment's reload step says it did."""

    def __init__(self) -> None:
        self.reloads: list[str] = []

    def start(self, plan: DeployPlan, backup: list[dict[str, Any]]) -> int | None:
        return None

    def update(self, deployment_id: int | None, state: str, reason: str | None = None,
               data: dict[str, Any] | None = None) -> None:
        if state == "reloaded" and data is not None:
            self.reloads.append(str(data["reload"]))


# --- the attach client on this machine (no lab): the ways JMX is unusable -------------

def _java() -> str:
    java = shutil.which("java")
    if java is None:
        skip_or_fail("java is missing (default-jre-headless, from .ci/install-packages)")
        raise AssertionError("unreachable")  # skip_or_fail raises
    return java


def _control(host: LocalHost, pid: int) -> ServiceControl:
    entry = ServiceEntry("tomcat", start=("true",), pid_file="/nonexistent/catalina.pid",
                         pid=pid)
    return ServiceControl(host, table=ServiceTable("local", (entry,)))


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Callable[[list[str]], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()


def test_the_client_source_is_shipped_as_package_data() -> None:
    source = client_source().decode()
    assert "public class ReloadSsl" in source
    assert '"reloadSslHostConfigs"' in source


def test_a_pid_that_is_not_a_jvm_never_gets_the_attach_signal(
        process: Callable[[list[str]], subprocess.Popen[bytes]]) -> None:
    _java()
    sleeper = process(["sleep", "120"])
    host = LocalHost()
    attempt = jmx_reload(host, _control(host, sleeper.pid), [8443])
    assert not attempt.reloaded
    assert attempt.detail == f"pid {sleeper.pid} is not a running Java process"
    assert sleeper.poll() is None  # SIGQUIT would have killed it


def test_a_jvm_that_refuses_attach_makes_jmx_unusable_not_a_failed_reload(
        tmp_path: Path, process: Callable[[list[str]], subprocess.Popen[bytes]]) -> None:
    java = _java()
    program = tmp_path / "Idle.java"
    program.write_text(_IDLE)
    jvm = subprocess.Popen([java, "-XX:+DisableAttachMechanism", "-XX:-UsePerfData",
                            str(program)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert jvm.stdout is not None and jvm.stdout.readline() == b"up\n"
        host = LocalHost()
        attempt = jmx_reload(host, _control(host, jvm.pid), [8443], attach_timeout=1.0)
        assert not attempt.reloaded
        assert attempt.detail.startswith("JMX unusable (exit 20): UNUSABLE attach to pid "
                                         f"{jvm.pid}"), attempt.detail
        assert jvm.poll() is None
    finally:
        jvm.kill()
        jvm.wait()
        if jvm.stdout is not None:
            jvm.stdout.close()


@pytest.mark.lab
def test_a_jvm_with_a_tmp_and_network_of_its_own_is_reached_in_its_namespaces(
        tmp_path: Path) -> None:
    # Debian's tomcat10.service runs Tomcat with PrivateTmp=yes: its attach socket is
    # in a /tmp the caller cannot see. Here a JVM gets a /tmp and a network of its own.
    java = _java()
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        skip_or_fail("a JVM in namespaces of its own needs root and unshare")
    program = tmp_path / "Idle.java"
    program.write_text(_IDLE)
    script = ('src=$(cat "$1") && mount -t tmpfs -o mode=1777 certmgr-test /tmp && '
              'ip link set lo up && printf "%s\\n" "$src" > /tmp/Idle.java && '
              'exec "$0" -XX:-UsePerfData /tmp/Idle.java')
    jvm = subprocess.Popen(["unshare", "--mount", "--net", "--propagation", "private",
                            "sh", "-c", script, java, str(program)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, cwd=tmp_path)
    try:
        assert jvm.stdout is not None and jvm.stdout.readline() == b"up\n"
        host = LocalHost()
        attempt = jmx_reload(host, _control(host, jvm.pid), [8443])
        # Attached, started its agent and asked it over JMX: only then is this the answer.
        assert not attempt.reloaded
        assert attempt.detail == ("JMX: AGENT started the JVM's local management agent; "
                                  "NOHANDLER no ProtocolHandler MBean for port 8443")
    finally:
        jvm.kill()
        jvm.wait()
        if jvm.stdout is not None:
            jvm.stdout.close()


# --- a real Tomcat on a lab host ----------------------------------------------------------

@pytest.fixture(scope="module")
def tomcat_lab() -> Iterator[RunningLab]:
    with tempfile.TemporaryDirectory(prefix="certmgr-jmx-lab-") as tmp:
        for lab in running_lab(Path(tmp) / "lab", programs=["tomcat"]):
            host = lab.hosts[0]
            host.local_path("/etc/tomcat10/tomcat-users.xml").write_bytes(_NO_MANAGER_USERS)
            yield lab


def _engine(tmp_path: Path, recorder: ReloadRecorder) -> Engine:
    return Engine(FileJournalStore(tmp_path / "journal"), KeyFileCipher(tmp_path / "key"),
                  recorder=recorder, options=EngineOptions(verify_timeout=60))


def _target(host: WritableHost) -> SlotTarget:
    (target,) = [t for t in slot_targets(host.name, discover_host(host).slots())
                 if t.kind is TOMCAT]
    return target


def _tomcat_pid(host: WritableHost) -> int:
    control = ServiceControl(host)
    pid = control.main_pid("tomcat")
    assert pid is not None and control.alive(pid)
    return pid


@pytest.mark.lab
def test_without_a_manager_user_tomcat_reloads_over_jmx_in_place(
        tomcat_lab: RunningLab, ca: TestCA, tmp_path: Path) -> None:
    host = tomcat_lab.hosts[0]
    target, pid = _target(host), _tomcat_pid(host)
    recorder = ReloadRecorder()
    engine = _engine(tmp_path, recorder)
    plan = engine.plan(host, target, material_for(ca, target))
    assert plan.reload.startswith("manager sslReload with tomcat-users.xml's manager-script "
                                  "user, else JMX reloadSslHostConfigs")
    for _ in range(2):  # the second run finds the JVM's management agent already up
        outcome = engine.deploy(host, target, material_for(ca, target))
        assert outcome.outcome is Outcome.VERIFIED, outcome.reason
        assert outcome.plan is not None
        assert set(served(host, TOMCAT).values()) == {outcome.plan.fingerprint}
        assert _tomcat_pid(host) == pid  # reloaded in place, not restarted
    first, second = recorder.reloads
    assert first.startswith(f"JMX reloadSslHostConfigs on port(s) 8443 (Tomcat pid {pid}, as uid")
    assert first.endswith(", starting the JVM's local management agent)")
    assert second.startswith("JMX reloadSslHostConfigs") and "starting" not in second
    # The client's source went to a temp directory of its own, removed after each run.
    left = host.run(["find", "/tmp", "-maxdepth", "1", "-name", "certmgr-jmx.*"])
    assert left.stdout == ""


@pytest.mark.lab
def test_a_keystore_tomcat_rejects_fails_the_jmx_reload_and_rolls_back_in_place(
        tomcat_lab: RunningLab, ca: TestCA, tmp_path: Path) -> None:
    host = tomcat_lab.hosts[0]
    target, pid = _target(host), _tomcat_pid(host)
    before = served(host, TOMCAT)
    assert None not in before.values()

    def corrupt() -> None:  # after Tomcat's config test, before the reload
        path = host.local_path(target.keystore or target.key or "")
        path.write_bytes(b"not a keystore")

    recorder = ReloadRecorder()
    with at_checkpoint("reload", corrupt):
        outcome = _engine(tmp_path, recorder).deploy(host, target, material_for(ca, target))
    assert outcome.outcome is Outcome.ROLLED_BACK, outcome.reason
    assert "refused reloadSslHostConfigs over JMX" in outcome.reason
    assert "FAILED" in outcome.reason
    assert served(host, TOMCAT) == before
    assert _tomcat_pid(host) == pid


@pytest.mark.lab
def test_over_ssh_the_jmx_reload_runs_the_same(tomcat_lab: RunningLab, ca: TestCA,
                                              tmp_path: Path) -> None:
    lab_host = tomcat_lab.hosts[0]
    pid = _tomcat_pid(lab_host)
    url = f"ssh://root@{lab_host.address}"
    recorder = ReloadRecorder()
    with SSHHost(url, key=tomcat_lab.state.ssh_key,
                 known_hosts=tomcat_lab.state.known_hosts) as host:
        target = _target(host)
        outcome = _engine(tmp_path, recorder).deploy(host, target, material_for(ca, target))
        assert outcome.outcome is Outcome.VERIFIED, outcome.reason
        assert outcome.plan is not None
        assert set(served(host, TOMCAT).values()) == {outcome.plan.fingerprint}
    (how,) = recorder.reloads
    assert how.startswith(f"JMX reloadSslHostConfigs on port(s) 8443 (Tomcat pid {pid}"), how
    assert _tomcat_pid(lab_host) == pid


@pytest.mark.lab
def test_an_unreachable_jvm_falls_back_to_a_restart_that_verifies(
        tomcat_lab: RunningLab, ca: TestCA, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    host = tomcat_lab.hosts[0]
    table = load_service_table(host)
    assert table is not None
    write_state_file(host, SERVICE_TABLE_PATH,
                     table.with_entry(replace(table.get("tomcat"), reload=None)).dumps())
    target, pid = _target(host), _tomcat_pid(host)
    real = tomcat_jmx.tomcat_jvm

    def unreachable(*args: Any, **kwargs: Any) -> JvmProcess | str:
        # Tomcat's real pid, but the client runs as nobody: the JVM refuses it.
        jvm = real(*args, **kwargs)
        assert isinstance(jvm, JvmProcess)
        return replace(jvm, uid=65534, gid=65534)

    monkeypatch.setattr(tomcat_jmx, "tomcat_jvm", unreachable)
    recorder = ReloadRecorder()
    outcome = _engine(tmp_path, recorder).deploy(host, target, material_for(ca, target))
    assert outcome.outcome is Outcome.VERIFIED, outcome.reason
    assert outcome.plan is not None
    (how,) = recorder.reloads
    assert how.startswith(f"restart through {SERVICE_TABLE_PATH}"), how
    assert f"(no JMX reload: JMX unusable (exit 20): UNUSABLE attach to pid {pid}" in how
    new_pid = _tomcat_pid(host)
    assert new_pid != pid
    assert set(served(host, TOMCAT).values()) == {outcome.plan.fingerprint}

