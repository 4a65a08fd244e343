"""``certmgr layout``: the seed's migration from the shared ``/etc/ssl`` snakeoil pair, shown.

What moves where and which configuration lines change is decided once, by
:func:`certmgr.deploy.layout.decide_layout` (deploy carries out the same
decision). :func:`plan_layout` picks the slot, asks for that decision and
returns it as printable values: the directories and files (Table 1 paths,
owner, group, mode, the file each replaces) and the configuration edits (the
whole old and new text of each file, or for slapd's cn=config the ldapmodify
LDIF).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from certmgr.deploy.layout import decide_layout, in_shared_store
from certmgr.deploy.targets import slot_targets
from certmgr.errors import DiscoveryError, UsageError
from certmgr.hosts.base import Host
from certmgr.models import FileSpec
from certmgr.programs import Discovery, Service, ServiceKind, Slot, spec_for

__all__ = ["ConfigEdit", "LayoutPlan", "PlannedFile", "plan_layout"]


@dataclass(frozen=True)
class PlannedFile:
    """A directory or file of the new layout and where its content comes from."""

    spec: FileSpec
    role: str  # dir, cert, key, chain, ca, keystore, combined
    source: str | None = None

    def describe(self) -> str:
        if self.role == "dir":
            return "directory"
        return f"{self.role}: copy of {self.source}" if self.source else self.role

    def to_json(self) -> dict[str, Any]:
        return {"path": self.spec.path, "owner": self.spec.owner, "group": self.spec.group,
                "mode": f"{self.spec.mode:04o}", "role": self.role, "source": self.source}


@dataclass(frozen=True)
class ConfigEdit:
    """One configuration change: a file's whole old and new text, or an LDIF to apply."""

    path: str
    old: str
    new: str
    ldif: str | None = None

    @property
    def title(self) -> str:
        return f"ldapmodify -Y EXTERNAL -H ldapi:/// (cn=config of {self.path})" if self.ldif \
            else f"edit {self.path}"

    def text(self) -> str:
        """The unified diff (or the LDIF for slapd's cn=config)."""
        if self.ldif is not None:
            return self.ldif
        return "".join(difflib.unified_diff(
            self.old.splitlines(keepends=True), self.new.splitlines(keepends=True),
            fromfile=f"a{self.path}", tofile=f"b{self.path}"))

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "kind": "ldif" if self.ldif else "file", "text": self.text()}


@dataclass(frozen=True)
class LayoutPlan:
    """Files to create and config edits for one slot; empty with a note when nothing to do."""

    service: ServiceKind
    slot: str
    name: str
    files: tuple[PlannedFile, ...]
    edits: tuple[ConfigEdit, ...]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service.value, "slot": self.slot, "name": self.name,
                "files": [f.to_json() for f in self.files],
                "edits": [e.to_json() for e in self.edits], "note": self.note}


def plan_layout(host: Host, discovery: Discovery, kind: ServiceKind, *,
                slot_id: str | None = None, name: str | None = None) -> LayoutPlan:
    """Plan the seed's per-program layout for one slot of ``kind``.

    Args:
        host: where the configuration files are read (for the edits' old text).
        discovery: what discovery found on ``host``.
        kind: the program.
        slot_id: which slot (default: the first one on shared files).
        name: the certificate name used in file names (default: the slot's first name).

    Raises:
        DiscoveryError: the program or slot is not there.
        UsageError: ``name`` cannot name files.
        PreflightFailed: the slot's configuration cannot be pointed at new files (says why).
    """
    service = discovery.service(kind)
    if service is None:
        raise DiscoveryError(f"no {kind.value} configuration found on {discovery.host}; "
                             "nothing to plan")
    slot = _pick(host, service, slot_id)
    name = _file_name(name or (slot.names[0] if slot.names else ""), slot)
    # Over every slot found: a file another program reads is shared, wherever it is.
    (target,) = [t for t in slot_targets(discovery.host, discovery.slots())
                 if t.slot_id == slot.id]
    decided = decide_layout(host, target, spec_for(kind), name)
    if decided.layout != "seed":
        return LayoutPlan(kind, slot.id, name, (), (),
                          f"{slot.id} already reads its own files: "
                          + ", ".join(p for _r, p in slot.files()))
    files = [PlannedFile(spec, "dir") for spec in decided.dirs]
    for placed in decided.files:
        # slapd's trusted-CA file stands in for no CA file: the certificate itself.
        source = getattr(slot, placed.role) or (slot.cert if placed.role == "ca" else None)
        files.append(PlannedFile(placed.spec, "combined" if placed.combined else placed.role,
                                 source))
    edits = [ConfigEdit(e.spec.path, e.old.decode(errors="replace"),
                        e.new.decode(errors="replace")) for e in decided.edits]
    if decided.ldap is not None:
        edits.append(ConfigEdit(slot.config, "", "",
                                ldif=decided.ldap.ldif(decided.ldap.new).decode()))
    return LayoutPlan(kind, slot.id, name, tuple(files), tuple(edits),
                      _note(kind, slot, decided.links))


def _file_name(name: str, slot: Slot) -> str:
    if not name:
        raise UsageError(f"{slot.id} has no name: give --name for the files")
    if not re.fullmatch(r"[A-Za-z0-9*._-]+", name) or name.startswith("."):
        raise UsageError(f"--name {name!r}: use a host-name-like name for the files")
    return name.replace("*", "wildcard")


def _note(kind: ServiceKind, slot: Slot, links: tuple[tuple[str, str], ...]) -> str:
    note = "Copy the files first, then apply the edit and reload the program."
    note += "".join(f" {link} is a link: the edit goes to {real}." for link, real in links)
    elsewhere = sorted({s.path for s in slot.settings.values() if s.path != slot.config})
    if elsewhere and kind.spec.includes_are_shared:
        note += (f" The settings are in {', '.join(elsewhere)}, not in {slot.config}: other "
                 "parts of the configuration that include it change too.")
    return note


def _pick(host: Host, service: Service, slot_id: str | None) -> Slot:
    if slot_id is not None:
        for slot in service.slots:
            if slot.id == slot_id:
                return slot
        known = ", ".join(s.id for s in service.slots) or "none"
        raise DiscoveryError(f"{service.kind.value} has no slot {slot_id!r} (slots: {known})")
    if not service.slots:
        raise DiscoveryError(f"{service.kind.value} ({service.config}) has no TLS slot "
                             "configured: enable TLS in its configuration first")
    return next((s for s in service.slots
                 if any(in_shared_store(host, p) for _r, p in s.files())), service.slots[0])
