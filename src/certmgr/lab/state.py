"""What a lab is made of, kept in ``<lab>/lab.json`` so ``down`` removes exactly that.

The file is rewritten after every step of ``up`` that creates something
(a tree, a namespace, a veth), so a failed or interrupted ``up`` still leaves
``down`` a complete list of what to remove.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from certmgr import atomicfile
from certmgr.errors import LabError
from certmgr.hosts.lab import LabHost, LabHostInfo

__all__ = ["STATE_FILE", "LabHostState", "LabState", "load_state", "save_state"]

STATE_FILE = "lab.json"
_FORMAT = 1


@dataclass(frozen=True)
class LabHostState:
    """One lab host: its name, addresses and kernel objects."""

    name: str
    address: str
    peer: str  # this machine's end of the veth
    netns: str
    veth: str
    root: str
    expected: dict[str, str] = field(default_factory=dict)  # kind -> sha256 it must serve

    def host(self) -> LabHost:
        return LabHost(LabHostInfo(name=self.name, address=self.address, root=Path(self.root),
                                   netns=self.netns))


@dataclass(frozen=True)
class LabState:
    """A whole lab. ``status``: building, files, starting, up, failed."""

    dir: str
    id: str
    layout: str
    programs: tuple[str, ...]
    subnet: str
    status: str
    ssh_key: str
    known_hosts: str
    hosts: tuple[LabHostState, ...] = ()

    def with_host(self, host: LabHostState) -> LabState:
        others = tuple(h for h in self.hosts if h.name != host.name)
        return replace(self, hosts=(*others, host))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = _FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabState:
        hosts = tuple(LabHostState(**h) for h in data["hosts"])
        values = {k: v for k, v in data.items() if k not in ("format", "hosts")}
        values["programs"] = tuple(values["programs"])
        return cls(**values, hosts=hosts)


def save_state(state: LabState) -> None:
    """Write ``lab.json`` atomically (0600: it names the lab's key file)."""
    path = Path(state.dir) / STATE_FILE
    text = json.dumps(state.to_json(), indent=2) + "\n"
    atomicfile.write_atomic(path, text.encode(), mode=0o600)


def load_state(lab_dir: Path) -> LabState | None:
    """The lab in ``lab_dir``, or None if there is none.

    Raises:
        LabError: ``lab.json`` exists but cannot be read.
    """
    path = lab_dir / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return LabState.from_json(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LabError(f"{path} is not a certmgr lab state file ({exc}); "
                       "remove the lab by hand") from None
