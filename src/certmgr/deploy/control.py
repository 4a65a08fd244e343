"""Starting, stopping and reloading a program on a host: service table or systemd.

A host without systemd carries a service table (``certmgr.hosts.servicetable``)
that says how to start, reload and stop each program; certmgr uses it and
records the new pid right after a restart. A host with systemd is driven with
``systemctl``.
"""

from __future__ import annotations

import time
from dataclasses import replace

from certmgr.errors import CertmgrError, HostError, ReloadFailed
from certmgr.hosts.base import CommandResult, WritableHost
from certmgr.hosts.servicetable import (
    SERVICE_TABLE_PATH,
    ServiceEntry,
    ServiceTable,
    load_service_table,
    read_pid_file,
)

__all__ = ["ServiceControl"]

_STOP_WAIT = 30.0
_START_WAIT = 90.0  # Tomcat takes ~5 s on an idle machine, far more on a loaded one


class ServiceControl:
    """How to reload or restart programs on one host."""

    def __init__(self, host: WritableHost, table: ServiceTable | None = None) -> None:
        self.host = host
        self._table = table
        self._loaded = table is not None

    @property
    def table(self) -> ServiceTable | None:
        if not self._loaded:
            self._table = load_service_table(self.host)
            self._loaded = True
        return self._table

    @property
    def systemd(self) -> bool:
        return self.host.can_run and self.host.exists("/run/systemd/system")

    def entry(self, name: str) -> ServiceEntry | None:
        table = self.table
        return table.find(name) if table is not None else None

    def describe(self, name: str) -> str:
        if self.entry(name) is not None:
            return f"{self.host.name}'s service table"
        return "systemctl" if self.systemd else "the program's own command"

    def run(self, argv: list[str] | tuple[str, ...], what: str,
            timeout: float = 120.0) -> CommandResult:
        """Run ``argv`` on the host; a failure is a ReloadFailed saying ``what`` failed."""
        try:
            return self.host.run(list(argv), timeout=timeout)
        except HostError as exc:
            detail = getattr(exc, "stderr", "").strip().splitlines()[-3:]
            raise ReloadFailed(f"{what} failed on {self.host.name}: {exc.message}"
                               + (f" ({' | '.join(detail)})" if detail else "")) from None

    def reload(self, name: str, default: list[str], unit: str) -> str:
        """Reload ``name`` with the table's reload command, else systemd, else ``default``."""
        entry = self.entry(name)
        if entry is not None and entry.reload is not None:
            argv = list(entry.reload)
        elif self.systemd and entry is None:
            argv = ["systemctl", "reload", unit]
        else:
            argv = default
        self.run(argv, f"reloading {name} ({' '.join(argv)})")
        return " ".join(argv)

    def restart(self, name: str, unit: str) -> str:
        """Stop and start ``name``; with a service table, record the new pid in it."""
        entry = self.entry(name)
        if entry is None:
            if not self.systemd:
                raise ReloadFailed(f"cannot restart {name} on {self.host.name}: no systemd and "
                                   f"no entry in its service table {SERVICE_TABLE_PATH}")
            self.run(["systemctl", "restart", unit], f"restarting {name}")
            return f"systemctl restart {unit}"
        self._stop(entry)
        pid = self._start(entry)
        self._record_pid(entry, pid)
        return f"restart through {SERVICE_TABLE_PATH} (pid {pid})"

    def main_pid(self, name: str) -> int | None:
        entry = self.entry(name)
        if entry is None:
            return None
        return read_pid_file(self.host, entry) or entry.pid

    def alive(self, pid: int) -> bool:
        # A zombie passes "kill -0": ask ps for the state instead.
        result = self.host.run(["ps", "-o", "stat=", "-p", str(pid)], check=False)
        state = result.stdout.strip()
        return result.ok and bool(state) and not state.startswith("Z")

    def _stop(self, entry: ServiceEntry) -> None:
        pid = read_pid_file(self.host, entry) or entry.pid
        if entry.stop is not None:
            self.run(entry.stop, f"stopping {entry.name}")
        elif pid is not None and self.alive(pid):
            self.host.run(["kill", "-TERM", str(pid)], check=False)
        if pid is None:
            return
        deadline = time.monotonic() + _STOP_WAIT
        while self.alive(pid):
            if time.monotonic() > deadline:
                raise ReloadFailed(f"{entry.name} (pid {pid}) did not stop within "
                                   f"{_STOP_WAIT:g}s on {self.host.name}; stop it by hand")
            time.sleep(0.1)
        if read_pid_file(self.host, entry) == pid:
            # A dead program's pid may live on as a zombie until PID 1 reaps it, and start
            # scripts (catalina.sh) then refuse to start: drop the stale pid file, inside
            # the host (it lives in the host's own /run).
            self.host.run(["rm", "-f", "--", entry.pid_file], check=False)

    def _start(self, entry: ServiceEntry) -> int:
        before = read_pid_file(self.host, entry)
        self.run(entry.start, f"starting {entry.name}")
        deadline = time.monotonic() + _START_WAIT
        logs = ", ".join(entry.logs) or "its logs"
        while time.monotonic() < deadline:
            pid = read_pid_file(self.host, entry)
            if pid is not None and pid != before:
                if self.alive(pid):
                    return pid
                # It wrote its pid and exited: it will not come up (vsftpd's 500 OOPS).
                raise ReloadFailed(f"{entry.name} exited right after starting on "
                                   f"{self.host.name} (pid {pid}); see {logs}")
            time.sleep(0.1)
        raise ReloadFailed(f"{entry.name} did not start on {self.host.name} (no live pid in "
                           f"{entry.pid_file} after {_START_WAIT:g}s); see {logs}")

    def _record_pid(self, entry: ServiceEntry, pid: int) -> None:
        from certmgr.deploy.fsops import write_state_file

        table = self.table
        if table is None:
            return
        table = table.with_entry(replace(entry, pid=pid))
        self._table = table
        try:
            write_state_file(self.host, SERVICE_TABLE_PATH, table.dumps())
        except CertmgrError as exc:
            raise ReloadFailed(f"{entry.name} restarted (pid {pid}) but its service table "
                               f"could not be updated: {exc.message}") from None
