"""Definitions: define, edit, delete, and apply a TOML file of them.

What a definition names that does not exist yet (an issuer before ``ca init``, a
target before ``discover``) is allowed, and said: each function returns those
warnings with its result, for the face to show.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.app.acme_definitions import AcmeOptions, acme_data, is_acme, split_issuers
from certmgr.app.context import Context
from certmgr.app.results import Batch, ItemResult
from certmgr.errors import InputError, NotFound
from certmgr.issuers.definitions import (
    DEFAULT_RENEW_BEFORE,
    DEFAULT_VALIDITY,
    definitions_from_toml,
    format_duration,
    make_definition,
    parse_duration,
    same_definition,
)
from certmgr.repository.records import DefinitionRecord

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["Saved", "apply", "define", "definition_view", "delete", "edit", "parse_duration",
           "unknown_references"]


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
           validity: dt.timedelta | None, renew_before: dt.timedelta | None, issuer: str,
           targets: Sequence[str], acme: AcmeOptions | None = None) -> Saved:
    """Create a definition (the values are checked before the repository is opened).

    ``issuer`` may name several ACME issuers (``NAME[,NAME2...]``, tried in order). For
    an ACME definition ``validity`` and ``renew_before`` have no default: the CA sets the
    lifetime and the renewal schedule decides (an explicit ``renew_before`` overrides it).

    Raises:
        InputError: a value is invalid, or the definition exists already.
    """
    acme = acme or AcmeOptions()
    issuers = split_issuers(issuer)

    def build(acme_defaults: bool) -> DefinitionRecord:
        no_renew = dt.timedelta(0) if acme_defaults else DEFAULT_RENEW_BEFORE
        return make_definition(name, cn, list(sans), key=key,
                               validity=validity or DEFAULT_VALIDITY,
                               renew_before=renew_before if renew_before is not None
                               else no_renew, issuer=issuers[0], targets=list(targets))

    acme_like = acme.given or len(issuers) > 1
    definition = build(acme_like)  # checked before the repository is opened
    repo = ctx.repository()
    if _existing(repo, name) is not None:
        raise InputError(f"definition {name!r} exists already: change it with "
                         f"`certmgr definitions edit {name}`")
    if is_acme(repo, issuers, acme):
        definition = build(True)
        data = acme_data(repo, name, issuers, acme, names=(definition.cn, *definition.sans),
                         validity_set=validity is not None,
                         renew_before_set=renew_before is not None)
        definition = replace(definition, data={"acme": data})
    warnings = unknown_references(repo, definition)
    return Saved(repo.save_definition(definition), "defined", warnings)


def edit(repo: Repository, name: str, *, cn: str | None = None,
         sans: Sequence[str] | None = None, add_sans: Sequence[str] = (),
         remove_sans: Sequence[str] = (), key: str | None = None,
         validity: dt.timedelta | None = None, renew_before: dt.timedelta | None = None,
         issuer: str | None = None, targets: Sequence[str] | None = None,
         add_targets: Sequence[str] = (), remove_targets: Sequence[str] = (),
         acme: AcmeOptions | None = None) -> Saved:
    """Change a definition; the next ``issue`` uses the new values.

    Raises:
        NotFound: no such definition.
        InputError: a new value is invalid, or a name to remove is not there.
    """
    old = repo.get_definition(name)
    acme = acme or AcmeOptions()
    old_acme = old.data.get("acme") if isinstance(old.data.get("acme"), dict) else None
    issuers = (split_issuers(issuer) if issuer
               else list((old_acme or {}).get("issuers") or [old.issuer or "builtin"]))
    new = make_definition(
        name, cn or old.cn, _edit_list(old.sans, sans, add_sans, remove_sans),
        key=key or old.key_type, validity=validity or old.validity,
        renew_before=renew_before if renew_before is not None else old.renew_before,
        issuer=issuers[0],
        targets=_edit_list(old.targets, targets, add_targets, remove_targets), data=old.data)
    if old_acme is not None or is_acme(repo, issuers, acme):
        data = acme_data(repo, name, issuers, acme, old=old_acme, names=(new.cn, *new.sans),
                         validity_set=validity is not None,
                         renew_before_set=renew_before is not None)
        new = replace(new, data={**old.data, "acme": data})
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
    wanted = [_acme_from_toml(repo, d, _existing(repo, d.name))
              for d in definitions_from_toml(text, source)]
    items: list[ItemResult] = []
    warnings: list[str] = []
    for d in wanted:
        old = _existing(repo, d.name)
        if old is not None:  # keep what issuing stored (ARI state); take the new ACME part
            d = replace(d, data={**old.data, **d.data})
        if old is not None and same_definition(d, replace(old, data=old.data)):
            status = "unchanged"
        else:
            warnings += unknown_references(repo, d)
            repo.save_definition(d)
            status = "updated" if old else "created"
        items.append(ItemResult(d.name, status, detail={"name": d.name}))
    return Batch(tuple(items)), tuple(warnings)


def _acme_from_toml(repo: Repository, d: DefinitionRecord,
                    old: DefinitionRecord | None) -> DefinitionRecord:
    """Turn the raw ACME keys of a TOML definition into its checked ``data["acme"]``."""
    raw = dict(d.data.get("acme_input") or {})
    data = {k: v for k, v in d.data.items() if k != "acme_input"}
    issuers = split_issuers(str(raw.pop("issuer", "") or d.issuer or "builtin"))
    validity_set = bool(raw.pop("validity_set", True))
    renew_before_set = bool(raw.pop("renew_before_set", True))
    options = AcmeOptions(raw.get("challenge"), raw.get("webroot"), raw.get("standalone_port"),
                          raw.get("dns_server"),
                          Path(raw["tsig_key"]) if raw.get("tsig_key") else None,
                          raw.get("profile"), raw.get("dns_hook"), raw.get("dns_provider"),
                          Path(raw["dns_credentials"]) if raw.get("dns_credentials") else None)
    if not raw and not is_acme(repo, issuers, options):
        return replace(d, data=data)
    old_acme = old.data.get("acme") if old is not None else None
    acme = acme_data(repo, d.name, issuers, options,
                     old=old_acme if isinstance(old_acme, dict) else None,
                     names=(d.cn, *d.sans), validity_set=validity_set,
                     renew_before_set=renew_before_set)
    return replace(d, data={**data, "acme": acme})


def definition_view(d: DefinitionRecord) -> dict[str, Any]:
    """A definition as every face shows it: for an ACME definition the lifetime and the
    renewal time are the CA's and the schedule's (null) unless given, and its challenge
    settings are listed, with stored secrets shown as ``stored``."""
    acme = d.data.get("acme") if isinstance(d.data.get("acme"), dict) else None
    out: dict[str, Any] = {
        "name": d.name, "cn": d.cn, "sans": list(d.sans), "key": d.key_type,
        "validity": format_duration(d.validity),
        "renew_before": format_duration(d.renew_before), "issuer": d.issuer,
        "targets": list(d.targets)}
    if acme is not None:  # the CA sets the lifetime; the schedule decides when to renew
        out["validity"] = out["validity"] if acme.get("validity_set") else None
        out["renew_before"] = out["renew_before"] if acme.get("renew_before_set") else None
        out["issuers"] = list(acme.get("issuers") or [d.issuer])
        standalone = acme.get("standalone_port")
        out["acme"] = {"challenge": acme.get("challenge"), "webroot": acme.get("webroot"),
                       "standalone_port": standalone, "dns_server": acme.get("dns_server"),
                       "tsig_key": "stored" if acme.get("tsig_key_ref") else None,
                       "dns_hook": acme.get("dns_hook"),
                       "dns_provider": acme.get("dns_provider"),
                       "dns_credentials": "stored" if acme.get("dns_credentials_ref") else None,
                       "profile": acme.get("profile")}
    return out
