"""The per-host service table: how to start, reload and stop each program without systemd.

A host without a service manager (a lab host, a container, an old server)
carries a JSON file, :data:`SERVICE_TABLE_PATH` inside the host, that says
for every server program on it:

* ``start``: an argument list that returns promptly once the program is on its
  way, leaving its main pid in ``pid_file`` (programs that stay in the
  foreground are wrapped by the writer of the table so that this holds);
* ``reload``: an argument list that makes the running program load new
  certificate files, or None when only a restart does (vsftpd);
* ``stop``: an argument list, or None for "SIGTERM the pid in ``pid_file``
  and wait until it is gone";
* ``pid_file``, ``user`` (who the program reads its keys as), ``logs`` (files
  to show when it fails) and ``endpoints`` (where it answers TLS);
* ``pid``: the main pid last recorded by whoever started it.

Every path is as the program sees it (inside the host). Commands are run with
``Host.run`` on the host, so they work the same through nsenter or SSH.

Reading::

    table = load_service_table(host)          # None if the host has none
    entry = table.get("apache2")

Writing (the lab when it starts programs; deploy after a restart)::

    table = table.with_pid("vsftpd", 4242)
    host_write(SERVICE_TABLE_PATH, table.dumps())   # or write_service_table(table, real_path)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from certmgr import atomicfile
from certmgr.errors import HostError
from certmgr.hosts.base import Host
from certmgr.models import Endpoint

__all__ = [
    "SERVICE_TABLE_PATH",
    "ServiceEntry",
    "ServiceTable",
    "load_service_table",
    "read_pid_file",
    "write_service_table",
]

SERVICE_TABLE_PATH = "/etc/certmgr/services.json"
"""Where the table lives inside a host (a program-side path)."""

_FORMAT = 1


@dataclass(frozen=True)
class ServiceEntry:
    """How one program on a host is started, reloaded and stopped.

    Attributes:
        name: the program's name in the table: a program kind's value
            (``slapd``, ``apache2``...) or a helper such as ``sshd``.
        start: argument list that starts it and returns; the main pid is then in ``pid_file``.
        pid_file: program-side path of the file holding the main pid.
        user: the user the program runs as and reads its key files as.
        reload: argument list that makes it load new certificate files; None: restart.
        stop: argument list that stops it; None: SIGTERM the main pid and wait.
        logs: program-side paths of its log files, newest lines first worth showing.
        endpoints: where it answers TLS.
        pid: the main pid last recorded, or None if not running (or not known).
    """

    name: str
    start: tuple[str, ...]
    pid_file: str
    user: str = "root"
    reload: tuple[str, ...] | None = None
    stop: tuple[str, ...] | None = None
    logs: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    pid: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a service entry needs a name")
        if not self.start:
            raise ValueError(f"service {self.name}: the start command is empty")
        if not self.pid_file.startswith("/"):
            raise ValueError(f"service {self.name}: pid file {self.pid_file!r} must be absolute")
        for attr in ("start", "reload", "stop", "logs", "endpoints"):
            value = getattr(self, attr)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, attr, tuple(value))

    @property
    def restart_only(self) -> bool:
        """True when only a restart (stop + start) loads new certificate files."""
        return self.reload is None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user": self.user,
            "start": list(self.start),
            "reload": list(self.reload) if self.reload is not None else None,
            "stop": list(self.stop) if self.stop is not None else None,
            "pid_file": self.pid_file,
            "pid": self.pid,
            "logs": list(self.logs),
            "endpoints": [e.to_json() for e in self.endpoints],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServiceEntry:
        def argv(value: Any) -> tuple[str, ...] | None:
            return None if value is None else tuple(str(v) for v in value)

        start = argv(data["start"]) or ()
        pid = data.get("pid")
        return cls(
            name=str(data["name"]),
            start=start,
            pid_file=str(data["pid_file"]),
            user=str(data.get("user", "root")),
            reload=argv(data.get("reload")),
            stop=argv(data.get("stop")),
            logs=tuple(str(p) for p in data.get("logs", ())),
            endpoints=tuple(Endpoint.from_json(e) for e in data.get("endpoints", ())),
            pid=int(pid) if pid is not None else None,
        )


@dataclass(frozen=True)
class ServiceTable:
    """All programs of one host, in start order (stop in reverse order).

    Attributes:
        host: the host's name (``lab:lab1``...), for messages.
        entries: the programs, in the order they are started.
    """

    host: str
    entries: tuple[ServiceEntry, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.entries, tuple):
            object.__setattr__(self, "entries", tuple(self.entries))
        names = [e.name for e in self.entries]
        if len(names) != len(set(names)):
            raise ValueError(f"service table of {self.host}: a program is listed twice")

    def __iter__(self) -> Iterator[ServiceEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def names(self) -> list[str]:
        return [e.name for e in self.entries]

    def find(self, name: str) -> ServiceEntry | None:
        """The entry called ``name``, or None."""
        return next((e for e in self.entries if e.name == name), None)

    def get(self, name: str) -> ServiceEntry:
        """The entry called ``name``. Raises HostError naming the programs the table has."""
        entry = self.find(name)
        if entry is None:
            raise HostError(
                f"{self.host} has no {name} in its service table {SERVICE_TABLE_PATH} "
                f"(it has: {', '.join(self.names()) or 'nothing'})",
                path=SERVICE_TABLE_PATH, host=self.host,
            )
        return entry

    def with_entry(self, entry: ServiceEntry) -> ServiceTable:
        """A copy with ``entry`` replacing the one of the same name, or appended."""
        if self.find(entry.name) is None:
            return replace(self, entries=(*self.entries, entry))
        return replace(self, entries=tuple(entry if e.name == entry.name else e
                                           for e in self.entries))

    def with_pid(self, name: str, pid: int | None) -> ServiceTable:
        """A copy recording ``pid`` (None: stopped) as the main pid of ``name``."""
        return self.with_entry(replace(self.get(name), pid=pid))

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "host": self.host,
                "services": [e.to_json() for e in self.entries]}

    def dumps(self) -> bytes:
        """The table as the bytes of its JSON file."""
        return (json.dumps(self.to_json(), indent=2) + "\n").encode()

    @classmethod
    def loads(cls, data: bytes | str, *, source: str = SERVICE_TABLE_PATH) -> ServiceTable:
        """Parse a table file. Raises HostError naming ``source`` if it is not one."""
        try:
            doc = json.loads(data)
            if doc.get("format") != _FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            return cls(host=str(doc.get("host", "")),
                       entries=tuple(ServiceEntry.from_json(e) for e in doc["services"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise HostError(f"{source} is not a certmgr service table ({exc}); "
                            "rewrite it or remove it", path=source) from None


def load_service_table(host: Host) -> ServiceTable | None:
    """The host's service table, or None if it has none.

    Raises:
        HostError: the file exists but cannot be read or parsed.
    """
    if not host.exists(SERVICE_TABLE_PATH):
        return None
    return ServiceTable.loads(host.read_bytes(SERVICE_TABLE_PATH),
                              source=f"{host.name}:{SERVICE_TABLE_PATH}")


def write_service_table(table: ServiceTable, real_path: Path) -> None:
    """Write the table atomically and durably to ``real_path`` (a path on this machine), 0644.

    The temporary file is created next to the target and renamed over it, so
    a reader never sees half a table (:mod:`certmgr.atomicfile`).
    """
    real_path.parent.mkdir(parents=True, exist_ok=True)
    atomicfile.write_atomic(real_path, table.dumps(), mode=0o644)


def read_pid_file(host: Host, entry: ServiceEntry) -> int | None:
    """The pid in the entry's pid file on the host, or None if absent or unreadable.

    Postfix pads its ``master.pid`` with spaces; any surrounding blanks are accepted.
    """
    try:
        text = host.read_bytes(entry.pid_file, limit=64).decode(errors="replace").strip()
    except HostError:
        return None
    return int(text) if text.isdigit() else None
