"""Certificate definitions as users write them: validation, durations, TOML files.

A definition is checked whole before anything is stored: its name (no ``/``,
no ``..``: names become file names), CN and SANs (DNS names or IPs), key type,
durations (``397d``, ``12h``, ``90m``, ``30s``; ``renew-before`` shorter than the
validity) and targets (``[HOST/]SLOT-ID``).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from certmgr.errors import InputError, PKIError
from certmgr.inputs import VALIDITY, Range, bounded_duration, printable
from certmgr.pki import KeyType, normalize_san
from certmgr.repository.records import DefinitionRecord

__all__ = [
    "DEFAULT_RENEW_BEFORE",
    "DEFAULT_VALIDITY",
    "check_name",
    "definition_names",
    "definitions_from_toml",
    "format_duration",
    "make_definition",
    "parse_duration",
    "same_definition",
]

DEFAULT_VALIDITY = dt.timedelta(days=397)  # the CA/Browser Forum maximum for public certs
DEFAULT_RENEW_BEFORE = dt.timedelta(days=30)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)\s*([smhd])")
# fullmatch, never match with ^...$: "$" also matches before a final newline.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,127}")
_TARGET = re.compile(r"[^\s\x00-\x1f\x7f]+")
_ACME_KEYS = {"challenge", "webroot", "standalone_port", "dns_server", "tsig_key", "profile",
              "dns_hook", "dns_provider", "dns_credentials"}
_TOML_KEYS = {"cn", "sans", "key", "validity", "renew_before", "issuer", "targets", *_ACME_KEYS}


def parse_duration(text: str, what: str = "duration", rng: Range = VALIDITY) -> dt.timedelta:
    """``397d``, ``12h``, ``90m``, ``30s`` or a sum like ``1d12h`` -> timedelta.

    Raises:
        InputError: not such a duration, zero, or outside ``rng`` (a century at most).
    """
    clean = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(clean)
    if not clean or len(clean) > 64 or "".join(n + u for n, u in parts) != clean:
        raise InputError(f"{what} '{printable(text)}' is not a duration: use a number with "
                         "s, m, h or d (e.g. 397d, 12h)")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InputError(f"{what} {text!r} must be longer than zero")
    return bounded_duration(seconds, rng, f"{what} {text}")


def format_duration(value: dt.timedelta) -> str:
    """The shortest exact spelling: ``397d``, ``36h``, ``90m``, ``45s``."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def check_name(name: str) -> str:
    """A definition name, checked: it becomes part of file names.

    Raises:
        InputError: empty, with ``/``, ``..``, spaces or other unsafe characters.
    """
    if "/" in name or "\\" in name or ".." in name:
        raise InputError(f"definition name {name!r} must not contain '/', '\\' or '..'")
    if not _NAME.fullmatch(name):
        raise InputError(f"definition name {name!r}: use 1-128 letters, digits and . _ @ + - "
                         "(not starting with . or -)")
    return name


def _check_target(target: str) -> str:
    # Host names may hold slashes (ssh://root@198.18.0.2), so the slot id is what follows
    # the last one, as the repository splits it.
    text = target.strip()
    host, sep, slot = text.rpartition("/")
    if (not _TARGET.fullmatch(text) or ".." in text or not slot
            or (sep and not host.strip("/"))):
        raise InputError(f"target {target!r} must be [HOST/]SLOT-ID as `certmgr discover` "
                         "prints it")
    return text


def _names(cn: str, sans: Iterable[str], definition: str) -> tuple[str, tuple[str, ...]]:
    try:
        cn_norm = normalize_san(cn)
        out: list[str] = []
        for san in sans:
            name = normalize_san(san)
            if name != cn_norm and name not in out:
                out.append(name)
    except PKIError as exc:
        raise PKIError(f"definition {definition}: {exc.message}") from None
    return cn_norm, tuple(out)


def make_definition(name: str, cn: str, sans: Sequence[str] = (), *, key: str = "ec256",
                    validity: dt.timedelta = DEFAULT_VALIDITY,
                    renew_before: dt.timedelta = DEFAULT_RENEW_BEFORE,
                    issuer: str | None = "builtin", targets: Sequence[str] = (),
                    data: Mapping[str, Any] | None = None) -> DefinitionRecord:
    """A validated :class:`DefinitionRecord`; the CN is always also a SAN.

    Raises:
        InputError: any field is invalid (the message names the field and value).
        PKIError: a CN/SAN is not a DNS name or IP, or the key type is unknown.
    """
    check_name(name)
    cn_norm, sans_norm = _names(cn, sans, name)
    key_type = KeyType.parse(key)
    if renew_before >= validity:
        raise InputError(f"definition {name}: renew-before ({format_duration(renew_before)}) "
                         f"must be shorter than the validity ({format_duration(validity)})")
    if issuer is not None and not _NAME.fullmatch(issuer):
        raise InputError(f"definition {name}: issuer name {issuer!r} is not valid")
    checked_targets = tuple(dict.fromkeys(_check_target(t) for t in targets))
    return DefinitionRecord(name=name, cn=cn_norm, sans=sans_norm, key_type=key_type.value,
                            validity=validity, issuer=issuer, renew_before=renew_before,
                            targets=checked_targets, data=dict(data or {}))


def definition_names(definition: DefinitionRecord) -> tuple[str, ...]:
    """Every name the certificate must carry: the CN first, then the SANs."""
    return tuple(dict.fromkeys((definition.cn, *definition.sans)))


def same_definition(a: DefinitionRecord, b: DefinitionRecord) -> bool:
    """True if ``a`` and ``b`` ask for the same certificate in the same places."""
    strip = {"created": None, "updated": None, "id": None}
    return replace(a, **strip) == replace(b, **strip)  # type: ignore[arg-type]


def definitions_from_toml(text: str, source: str) -> list[DefinitionRecord]:
    """Definitions from a TOML file (``certmgr apply``).

    Format::

        [defaults]                 # optional, for every definition below
        key = "ec256"
        validity = "397d"
        renew_before = "30d"
        issuer = "builtin"

        [definitions."www.example.com"]
        cn = "www.example.com"     # default: the definition's name
        sans = ["example.com"]
        targets = ["apache2:/etc/apache2/sites-enabled/default-ssl.conf:2"]

    Raises:
        InputError: bad TOML, an unknown key, or an invalid definition (naming the file).
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}", path=source) from None
    unknown = set(doc) - {"defaults", "definitions"}
    if unknown:
        raise InputError(f"{source}: unknown table(s) {', '.join(sorted(unknown))}: use "
                         "[defaults] and [definitions.NAME]", path=source)
    defaults = _table(doc.get("defaults", {}), f"{source} [defaults]", _TOML_KEYS - {"cn"})
    tables = _table(doc.get("definitions", {}), f"{source} [definitions]")
    if not tables:
        raise InputError(f"{source}: no [definitions.NAME] table in it", path=source)
    out: list[DefinitionRecord] = []
    for name, entry in tables.items():
        fields = {**defaults, **_table(entry, f"{source} [definitions.{name}]", _TOML_KEYS)}
        try:
            out.append(_from_fields(str(name), fields))
        except InputError as exc:
            raise type(exc)(f"{source}: {exc.message}", path=source) from None
    return out


def _table(value: Any, where: str, known: set[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a table")
    unknown = set(value) - known if known is not None else set()
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(_TOML_KEYS))})")
    return value


def _from_fields(name: str, fields: Mapping[str, Any]) -> DefinitionRecord:
    def text(key: str, default: str) -> str:
        value = fields.get(key, default)
        if not isinstance(value, str):
            raise InputError(f"definition {name}: {key} must be a string")
        return value

    def strings(key: str) -> list[str]:
        value = fields.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"definition {name}: {key} must be a list of strings")
        return value

    # The ACME keys are carried raw in data["acme_input"] for the application layer,
    # which checks them and stores the TSIG key; an ACME definition has no default
    # validity or renew_before (the CA and the renewal schedule decide).
    acme = {k: fields[k] for k in sorted(_ACME_KEYS) if k in fields}
    for key, value in acme.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise InputError(f"definition {name}: {key} must be a string")
    issuer = text("issuer", "builtin")
    is_acme = bool(acme) or "," in issuer
    data = {"acme_input": {**{k: str(v) for k, v in acme.items()}, "issuer": issuer,
                           "validity_set": "validity" in fields,
                           "renew_before_set": "renew_before" in fields}} if is_acme else {}
    return make_definition(
        name, text("cn", name), strings("sans"), key=text("key", "ec256"),
        validity=parse_duration(text("validity", "397d"), f"definition {name}: validity"),
        renew_before=parse_duration(text("renew_before", "0s" if is_acme else "30d"),
                                    f"definition {name}: renew_before") if (
            "renew_before" in fields or not is_acme) else dt.timedelta(0),
        issuer=issuer.split(",")[0].strip(), targets=strings("targets"), data=data)
