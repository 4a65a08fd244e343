"""Record a lab's hosts in the repository: each as ``lab:NAME`` and as ``ssh://root@ADDRESS``."""

from __future__ import annotations

import contextlib
from typing import Any

from certmgr.errors import NotFound
from certmgr.lab.state import LabState

__all__ = ["register_hosts", "unregister_hosts"]


def _names(state: LabState) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(name, kind, address, params) of every host record the lab owns."""
    out: list[tuple[str, str, str, dict[str, Any]]] = []
    for host in state.hosts:
        out.append((f"lab:{host.name}", "lab", host.address,
                    {"lab_dir": state.dir, "root": host.root, "netns": host.netns}))
        if state.status == "up":
            out.append((f"ssh://root@{host.address}", "ssh", f"root@{host.address}:22",
                        {"key": state.ssh_key, "known_hosts": state.known_hosts,
                         "lab": f"lab:{host.name}"}))
    return out


def register_hosts(repository: Any, state: LabState) -> list[str]:
    """Upsert the lab's hosts in ``repository`` (a certmgr Repository); their names."""
    names = []
    for name, kind, address, params in _names(state):
        repository.upsert_host(name, kind, address=address, params=params)
        names.append(name)
    return names


def unregister_hosts(repository: Any, state: LabState) -> None:
    """Remove the lab's hosts (and what discovery found on them) from ``repository``."""
    for host in state.hosts:
        for name in (f"lab:{host.name}", f"ssh://root@{host.address}"):
            with contextlib.suppress(NotFound):
                repository.delete_host(name)
