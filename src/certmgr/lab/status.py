"""What a lab looks like now: hosts, programs, pids and the certificate each endpoint serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from certmgr.errors import HostError, ProbeError
from certmgr.hosts.servicetable import load_service_table, read_pid_file
from certmgr.lab import netns
from certmgr.lab.probe import served_sha256
from certmgr.lab.state import LabHostState, LabState, load_state
from certmgr.programs import ServiceKind

__all__ = ["lab_status"]


def lab_status(lab_dir: Path, *, probe: bool = True) -> dict[str, Any] | None:
    """The lab in ``lab_dir`` as ``certmgr lab status --json`` prints it, or None if none.

    Each program has its main ``pid`` (None when not running), its endpoints
    with the served leaf's ``sha256`` (or the probe's ``error``), and a
    program-level ``sha256`` when all its endpoints serve the same leaf.
    """
    state = load_state(lab_dir.absolute())
    if state is None:
        return None
    return {
        "dir": state.dir,
        "status": state.status,
        "layout": state.layout,
        "hosts": [_host(state, h, probe=probe and state.status == "up") for h in state.hosts],
    }


def _host(state: LabState, host_state: LabHostState, *, probe: bool) -> dict[str, Any]:
    host = host_state.host()
    try:
        table = load_service_table(host)
    except HostError:
        table = None
    programs = []
    for entry in table.entries if table else ():
        if entry.name not in {k.value for k in ServiceKind}:
            continue  # sshd is reported under "ssh"
        # The pid file first (the program's own word), else what the table recorded.
        pid = (read_pid_file(host, entry) or entry.pid) if state.status == "up" else None
        running = pid is not None and netns.process_alive(pid)
        endpoints = [_endpoint(e.to_json(), e, probe=probe) for e in entry.endpoints]
        served = {e.get("sha256") for e in endpoints}
        programs.append({
            "kind": entry.name,
            "pid": pid if running else None,
            "user": entry.user,
            "endpoints": endpoints,
            "sha256": served.pop() if len(served) == 1 else None,
            "expected_sha256": host_state.expected.get(entry.name),
        })
    return {
        "name": host_state.name,
        "host": f"lab:{host_state.name}",
        "address": host_state.address,
        "root": host_state.root,
        "ssh": {"user": "root", "port": 22, "key": state.ssh_key,
                "known_hosts": state.known_hosts, "url": f"ssh://root@{host_state.address}"},
        "programs": programs,
    }


def _endpoint(data: dict[str, Any], endpoint: Any, *, probe: bool) -> dict[str, Any]:
    data = {k: v for k, v in data.items() if k != "sni"}
    if not probe:
        data["sha256"] = None
        return data
    try:
        data["sha256"] = served_sha256(endpoint, timeout=3.0)
    except ProbeError as exc:
        data["sha256"] = None
        data["error"] = exc.message
    return data
