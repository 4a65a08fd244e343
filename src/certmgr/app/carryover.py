"""When discovery renames a slot, what was stored under the old id follows it.

Discovery used to report one credential served on two listeners (a dual-stack
pair of haproxy ``bind`` lines, nginx ``listen 443`` and ``listen [::]:443`` in
two server blocks) as two slots, ``ID:PORT`` and ``ID:PORT~2``; it now reports
one slot with every endpoint. Definitions that target an old id, and the
deployment history recorded under it, are carried over to the slot that now
serves the same files, through the repository's public methods.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Protocol

from certmgr.app.inventory import LOCAL_HOST
from certmgr.programs import Service, Slot
from certmgr.repository.records import DefinitionRecord, SlotRecord

__all__ = ["carry_over", "renamed_slots"]


class _Repository(Protocol):
    def list_definitions(self) -> list[DefinitionRecord]: ...

    def save_definition(self, definition: DefinitionRecord) -> DefinitionRecord: ...

    def move_deployments(self, old_target: str, new_target: str) -> int: ...


def _files(slot: SlotRecord | Slot) -> tuple[str | None, ...]:
    return (slot.cert, slot.key, slot.chain, slot.ca, slot.keystore)


def renamed_slots(before: Iterable[SlotRecord],
                  found: Iterable[tuple[Service, Slot]]) -> dict[str, str]:
    """Old slot id -> new slot id, for stored slots whose id discovery no longer reports.

    The new slot is the one of the same program reading the same files; when
    several do, the one serving the old slot's endpoints, then the one whose id
    the old id extends (``haproxy:web`` for ``haproxy:web:443~2``). A stored slot
    with no single such successor is left alone (it is gone, not renamed).
    """
    pairs = [(service.kind.value, slot) for service, slot in found]
    ids = {slot.id for _k, slot in pairs}
    out: dict[str, str] = {}
    for old in before:
        if old.slot_id in ids or not any(_files(old)):
            continue
        same = [slot for kind, slot in pairs
                if kind == old.service_kind and _files(slot) == _files(old)]
        if len(same) > 1:
            same = [s for s in same if set(old.endpoints) & set(s.endpoints)] or same
        if len(same) > 1:
            same = [s for s in same if old.slot_id.startswith(s.id)] or same
        if len(same) == 1:
            out[old.slot_id] = same[0].id
    return out


def carry_over(repo: _Repository, host: str, renamed: dict[str, str]) -> list[str]:
    """Point definitions' targets and deployment history at the renamed slots.

    Returns one line per change, for the operator.
    """
    if not renamed:
        return []
    notes: list[str] = []
    for definition in repo.list_definitions():
        targets: list[str] = []
        seen: set[tuple[str, str]] = set()  # (host, slot id): "x" and "local/x" are one
        for target in definition.targets:
            on, sep, slot_id = target.rpartition("/")
            if (on or LOCAL_HOST) == host and slot_id in renamed:
                slot_id = renamed[slot_id]
                target = f"{on}{sep}{slot_id}"
            if (on or LOCAL_HOST, slot_id) not in seen:
                seen.add((on or LOCAL_HOST, slot_id))
                targets.append(target)
        if tuple(targets) != definition.targets:
            repo.save_definition(replace(definition, targets=tuple(targets)))
            notes.append(f"definition {definition.name} now targets "
                         f"{', '.join(targets)} (was {', '.join(definition.targets)})")
    for old, new in sorted(renamed.items()):
        moved = repo.move_deployments(f"{host}/{old}", f"{host}/{new}")
        notes.append(f"slot {host}/{old} is now {host}/{new}"
                     + (f" ({moved} deployment(s) of history moved)" if moved else ""))
    return notes
