"""The one shape of "one item of a batch": what happened to it, why, and the details.

Every use case that works on many things (issue many definitions, import what a
scan found, apply a file of definitions, deploy to many slots) returns one
:class:`ItemResult` per item, in the order the items were given; one item's
failure is a result, never an exception that loses the others (STYLE.md point 6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Batch", "ItemResult"]

_RESERVED = frozenset({"item", "status", "ok", "reason"})


@dataclass(frozen=True)
class ItemResult:
    """One item of a batch.

    Attributes:
        item: what the result is about (a definition name, ``HOST/SLOT-ID``, a target).
        status: what happened, one word of the use case's vocabulary (``issued``,
            ``pending``, ``failed``, ``imported``, ``verified``, ``rolled_back``...).
        ok: False when the item failed (the batch then exits 1).
        reason: why, one line; empty when it went as asked.
        detail: the use case's own fields (version, serial, deployment id...); in
            JSON they sit beside ``item``, ``status``, ``ok`` and ``reason``.
    """

    item: str
    status: str
    ok: bool = True
    reason: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        clash = _RESERVED & set(self.detail)
        if clash:
            raise ValueError(f"detail may not hold {', '.join(sorted(clash))}")

    def to_json(self) -> dict[str, Any]:
        return {"item": self.item, "status": self.status, "ok": self.ok,
                "reason": self.reason, **self.detail}


@dataclass(frozen=True)
class Batch:
    """The results of one batch, one per item, in the order the items were given."""

    items: tuple[ItemResult, ...] = ()

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    @property
    def failed(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if not i.ok)

    def __iter__(self) -> Iterator[ItemResult]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_json(self) -> list[dict[str, Any]]:
        return [i.to_json() for i in self.items]
