"""From what discovery found on a host to the slots deploy can target."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from certmgr.deploy.model import SettingRef, SlotTarget
from certmgr.programs import Service, ServiceKind, Setting, Slot

__all__ = ["slot_targets"]


def slot_targets(host: str, found: Iterable[tuple[Service, Slot]]) -> list[SlotTarget]:
    """One :class:`SlotTarget` per discovered slot, with the paths other programs share.

    A file read by two *programs* (Debian's snakeoil pair) is shared; a file read
    by two slots of one program (Dovecot's POP3 and IMAP) is not: the seed keeps it
    physically shared within one program.
    """
    pairs = list(found)
    readers: dict[str, set[ServiceKind]] = defaultdict(set)
    line_readers: dict[str, dict[str, None]] = defaultdict(dict)  # path:line -> slot ids
    for service, slot in pairs:
        for _role, path in slot.files():
            readers[path].add(service.kind)
        for places in (slot.settings, *slot.also):
            for s in places.values():
                line_readers[f"{s.path}:{s.line}"][slot.id] = None
    out = []
    for service, slot in pairs:
        shared = frozenset(p for _r, p in slot.files() if len(readers[p]) > 1)
        lines = {f"{s.path}:{s.line}" for places in (slot.settings, *slot.also)
                 for s in places.values()}
        shared_lines = {where: tuple(i for i in line_readers[where] if i != slot.id)
                        for where in sorted(lines) if len(line_readers[where]) > 1}
        out.append(SlotTarget(
            host=host, kind=service.kind, slot_id=slot.id, config=slot.config,
            user=service.user, group=service.group, endpoints=slot.endpoints,
            names=slot.names, names_from=slot.names_from, cert=slot.cert, key=slot.key,
            chain=slot.chain, ca=slot.ca, keystore=slot.keystore,
            keystore_type=slot.keystore_type, password=slot.password,
            settings=_refs(slot.settings), also=tuple(_refs(a) for a in slot.also),
            shared=shared, shared_lines=shared_lines))
    return out


def _refs(settings: Mapping[str, Setting]) -> dict[str, SettingRef]:
    return {role: SettingRef(s.path, s.line, s.directive, s.index)
            for role, s in settings.items()}
