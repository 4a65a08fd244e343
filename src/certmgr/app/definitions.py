"""Definitions: define, edit, delete, and apply a TOML file of them.

What a definition names that does not exist yet (an issuer before ``ca init``, a
target before ``discover``) is allowed, and said: each function returns those
warnings with its result, for the face to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from certmgr.app.context import Context
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import InputError, NotFound
from certmgr.issuers.definitions import (
    definitions_from_toml,
    make_definition,
    same_definition,
)
from certmgr.repository.records import DefinitionRecord

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["Saved", "apply", "define", "delete", "edit", "unknown_references"]


@dataclass(frozen=True)
class Saved:
    """A definition as stored, what happened to it, and what it names that is unknown yet."""

    definition: DefinitionRecord
    status: str  # defined, updated, unchanged
    warnings: tuple[str, ...] = ()


def unknown_references(repo: Repository, definition: DefinitionRecord) -> tuple[str, ...]:
    """Warnings for what ``definition`` names that does not exist yet: its issuer, its
    targets. Defining first is allowed, but a typo should not wait for the first issue
    or deployment to show."""
    out: list[str] = []
    if definition.issuer not in (None, "external"):
        try:
            repo.get_issuer(definition.issuer)
        except NotFound:
            hint = "`certmgr ca init`" if definition.issuer == "builtin" else "create it"
            out.append(f"{definition.name}: issuer {definition.issuer} does not exist yet "
                       f"({hint} before issuing)")
    for target in definition.targets:
        try:
            repo.get_slot(target)
        except NotFound:
            out.append(f"{definition.name}: target {target} is not a discovered slot yet "
                       "(see `certmgr discover`)")
    return tuple(out)


def _existing(repo: Repository, name: str) -> DefinitionRecord | None:
    try:
        return repo.get_definition(name)
    except NotFound:
        return None


def define(ctx: Context, name: str, cn: str, sans: Sequence[str], *, key: str,
           validity: dt.timedelta, renew_before: dt.timedelta, issuer: str,
           targets: Sequence[str]) -> Saved:
    """Create a definition (the values are checked before the repository is opened).

    Raises:
        InputError: a value is invalid, or the definition exists already.
    """
    definition = make_definition(name, cn, list(sans), key=key, validity=validity,
                                 renew_before=renew_before, issuer=issuer,
                                 targets=list(targets))
    repo = ctx.repository()
    if _existing(repo, name) is not None:
        raise InputError(f"definition {name!r} exists already: change it with "
                         f"`certmgr definitions edit {name}`")
    warnings = unknown_references(repo, definition)
    return Saved(repo.save_definition(definition), "defined", warnings)


def edit(repo: Repository, name: str, *, cn: str | None = None,
         sans: Sequence[str] | None = None, add_sans: Sequence[str] = (),
         remove_sans: Sequence[str] = (), key: str | None = None,
         validity: dt.timedelta | None = None, renew_before: dt.timedelta | None = None,
         issuer: str | None = None, targets: Sequence[str] | None = None,
         add_targets: Sequence[str] = (), remove_targets: Sequence[str] = ()) -> Saved:
    """Change a definition; the next ``issue`` uses the new values.

    Raises:
        NotFound: no such definition.
        InputError: a new value is invalid, or a name to remove is not there.
    """
    old = repo.get_definition(name)
    new = make_definition(
        name, cn or old.cn, _edit_list(old.sans, sans, add_sans, remove_sans),
        key=key or old.key_type, validity=validity or old.validity,
        renew_before=renew_before if renew_before is not None else old.renew_before,
        issuer=issuer or old.issuer,
        targets=_edit_list(old.targets, targets, add_targets, remove_targets), data=old.data)
    if same_definition(replace(new, created=old.created, id=old.id), old):
        return Saved(old, "unchanged")
    warnings = unknown_references(repo, new)
    return Saved(repo.save_definition(new), "updated", warnings)


def _edit_list(current: Sequence[str], replace_with: Sequence[str] | None,
               add: Sequence[str], remove: Sequence[str]) -> list[str]:
    items = list(replace_with) if replace_with is not None else list(current)
    items += [a for a in add if a not in items]
    missing = [r for r in remove if r not in items]
    if missing:
        raise InputError(f"cannot remove {', '.join(missing)}: not in the definition")
    return [i for i in items if i not in remove]


def delete(repo: Repository, name: str, *, with_certificates: bool = False) -> None:
    """Delete a definition; one with certificates only ``with_certificates`` (they and their
    keys go too).

    Raises:
        NotFound: no such definition.
        InputError: it has certificates and ``with_certificates`` is not set.
    """
    repo.get_definition(name)
    if repo.current_certificate(name) is not None and not with_certificates:
        raise InputError(f"definition {name!r} has certificates; deleting it deletes them and "
                         "their keys: add --yes")
    repo.delete_definition(name)


def apply(repo: Repository, text: str, source: str) -> tuple[Batch, tuple[str, ...]]:
    """Create or update the definitions of a TOML document; running it again changes nothing.

    Returns:
        one result per definition (``created``, ``updated`` or ``unchanged``), and the
        warnings about what they name that does not exist yet.

    Raises:
        InputError: the document is invalid (nothing is saved).
    """
    wanted = definitions_from_toml(text, source)
    items: list[ItemResult] = []
    warnings: list[str] = []
    for d in wanted:
        old = _existing(repo, d.name)
        if old is not None and same_definition(replace(d, data=old.data), old):
            status = "unchanged"
        else:
            warnings += unknown_references(repo, d)
            repo.save_definition(replace(d, data=old.data) if old else d)
            status = "updated" if old else "created"
        items.append(ItemResult(d.name, status, detail={"name": d.name}))
    return Batch(tuple(items)), tuple(warnings)
