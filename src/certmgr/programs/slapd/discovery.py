"""OpenLDAP slapd: cn=config (``slapd.d/cn=config.ldif``) or the old ``slapd.conf``.

slapd reads its key as its own user (``SLAPD_USER`` in ``/etc/default/slapd``,
``openldap`` on Debian and Ubuntu), so its key must be readable by that user's
group. Its listeners come from ``SLAPD_SERVICES`` (``ldap:///`` is STARTTLS on
389, ``ldaps:///`` direct TLS on 636).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
import shlex
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from certmgr.errors import ConfigError, HostError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.base import (
    DiscoveryContext,
    FindsConfigFile,
    IncludeGuard,
    Service,
    Setting,
    Slot,
    resolve_path,
)

__all__ = ["SlapdAdapter", "parse_ldif", "parse_slapd_conf", "read_default_file"]

_ROLES = {"tlscertificatefile": "cert", "tlscertificatekeyfile": "key",
          "tlscacertificatefile": "ca"}
_DEFAULT_SERVICES = "ldap:/// ldapi:///"


def parse_ldif(text: str, path: str) -> list[dict[str, list[tuple[str, int]]]]:
    """LDIF entries: lower-case attribute -> [(value, line)]; ``::`` values are base64."""
    entries: list[dict[str, list[tuple[str, int]]]] = []
    current: dict[str, list[tuple[str, int]]] = {}
    logical: list[tuple[int, str]] = []
    comment = False
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.startswith(" ") and comment:
            # RFC 2849 folds comments too, but slapd reads such a line as an attribute
            # and refuses the entry ("extra cruft"): so do we.
            raise ConfigError(f"{path}:{number}: a folded comment line, which slapd refuses "
                              "(start the line with '#')", path=path, line=number)
        if raw.startswith(" ") and logical:
            logical[-1] = (logical[-1][0], logical[-1][1] + raw[1:])
        elif raw.startswith("#"):
            comment = True
        else:
            comment = False
            logical.append((number, raw))
    for number, line in logical:
        if not line.strip():
            if current:
                entries.append(current)
                current = {}
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name.strip():
            raise ConfigError(f"{path}:{number}: not an LDIF 'attribute: value' line: "
                              f"{line[:60]}", path=path, line=number)
        if value.startswith(":"):
            try:
                value = base64.b64decode(value[1:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ConfigError(f"{path}:{number}: invalid base64 value of {name}",
                                  path=path, line=number) from None
        current.setdefault(name.strip().lower(), []).append((value.strip(), number))
    if current:
        entries.append(current)
    return entries


def read_default_file(ctx: DiscoveryContext, path: str) -> dict[str, str]:
    """``NAME=value`` assignments of a Debian ``/etc/default/*`` shell file (no evaluation)."""
    out: dict[str, str] = {}
    try:
        text = ctx.try_read(path) or ""
    except ConfigError:
        return out
    for line in text.splitlines():
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z0-9_]+)=(.*)$", line)
        if m:
            try:
                words = shlex.split(m.group(2), comments=True)
            except ValueError:
                words = [m.group(2).strip("'\"")]
            out[m.group(1)] = " ".join(words)
    return out


def _endpoints(services: str) -> list[Endpoint]:
    out: list[Endpoint] = []
    for url in services.split():
        parts = urlsplit(url)
        if parts.scheme not in ("ldap", "ldaps"):
            continue
        direct = parts.scheme == "ldaps"
        host = unquote(parts.hostname or "") or "*"
        try:
            port = parts.port or (636 if direct else 389)
        except ValueError:
            continue
        out.append(Endpoint(host, port, TlsMode.DIRECT if direct else TlsMode.STARTTLS_LDAP))
    return out


def _started_with(ctx: DiscoveryContext) -> str | None:
    """The ``-h URLS`` of slapd's start command in the host's service table, if any.

    A host without systemd (a lab host, a container) starts slapd from its
    service table rather than from /etc/default/slapd: that command line is
    what slapd really listens on.
    """
    from certmgr.hosts.servicetable import load_service_table

    try:
        table = load_service_table(ctx.host)
    except (HostError, ValueError):
        return None
    entry = table.find("slapd") if table is not None else None
    if entry is None:
        return None
    m = re.search(r"""-h\s+(?:'([^']*)'|"([^"]*)"|(\S+))""", " ".join(entry.start))
    return (m.group(1) or m.group(2) or m.group(3)) if m else None


class SlapdAdapter(FindsConfigFile):
    """OpenLDAP 2.3 to 2.6."""

    name: ClassVar[str] = "slapd"
    # Debian/Ubuntu cn=config tree first (it wins when both exist), then slapd.conf.
    config_candidates: ClassVar[tuple[str, ...]] = (
        "/etc/ldap/slapd.d/cn=config.ldif", "/etc/ldap/slapd.conf",
        "/etc/openldap/slapd.d/cn=config.ldif", "/etc/openldap/slapd.conf")

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        defaults = read_default_file(ctx, "/etc/default/slapd")
        user = defaults.get("SLAPD_USER") or "openldap"
        group = defaults.get("SLAPD_GROUP") or user
        urls = _started_with(ctx) or defaults.get("SLAPD_SERVICES") or _DEFAULT_SERVICES
        if defaults.get("SLAPD_CONF"):
            config = defaults["SLAPD_CONF"]
            if ctx.host.stat(config) is not None and ctx.host.stat(config).is_dir:  # type: ignore[union-attr]
                config = posixpath.join(config, "cn=config.ldif")
        try:
            found = self._settings(ctx, config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, user, (), group=group)
        slots: tuple[Slot, ...] = ()
        if "cert" in found:
            values = {role: value for role, (value, _s) in found.items()}
            slots = (Slot(
                id="slapd", config=config, names=(ctx.hostname(),), names_from="host",
                endpoints=tuple(_endpoints(urls)),
                cert=values["cert"], key=values.get("key"), ca=values.get("ca"),
                settings={role: s for role, (_v, s) in found.items()}),)
        return Service(self.kind, config, user, slots, group=group)

    def _settings(self, ctx: DiscoveryContext, config: str) -> dict[str, tuple[str, Setting]]:
        text = ctx.read_text(config)
        out: dict[str, tuple[str, Setting]] = {}
        if config.endswith(".ldif"):
            for entry in parse_ldif(text, config):
                for attr, values in entry.items():
                    role = _ROLES.get(attr.removeprefix("olc"))
                    if role and attr.startswith("olc") and values:
                        value, line = values[-1]
                        out[role] = (value, Setting(config, line, attr))
            return out
        guard = IncludeGuard(ctx.host)
        guard.enter(config, from_path=None, from_line=None)
        try:
            self._conf(ctx, config, text, out, guard)
        finally:
            guard.leave()
        return out

    def _conf(self, ctx: DiscoveryContext, path: str, text: str,
              out: dict[str, tuple[str, Setting]], guard: IncludeGuard) -> None:
        """slapd.conf's TLS settings, following ``include`` (the last setting wins)."""
        for number, words in parse_slapd_conf(text, path):
            keyword = words[0].lower()
            if keyword in _ROLES and len(words) > 1:
                out[_ROLES[keyword]] = (words[1], Setting(path, number, words[0]))
            elif keyword == "include" and len(words) > 1:
                # (a missing file is slapd's own error to report: `check` runs slaptest)
                target = resolve_path(posixpath.dirname(path), words[1])
                guard.enter(target, from_path=path, from_line=number)
                try:
                    included = ctx.try_read(target)
                    if included is not None:
                        self._conf(ctx, target, included, out, guard)
                finally:
                    guard.leave()


def parse_slapd_conf(text: str, path: str) -> list[tuple[int, list[str]]]:
    """(first line, words) of each logical line of a slapd.conf, as slapd reads it.

    slapd.conf(5): a line that begins with white space continues the previous
    one (so does a line after one ending in a single backslash, which is
    dropped); continuation lines are unwrapped before comments are recognised
    (an indented line after a ``#`` line is part of the comment); a blank line
    ends a logical line. Arguments are separated by blanks; ``"..."`` keeps
    blanks in one argument and ``\\`` makes the next character plain.
    """
    logical: list[tuple[int, str]] = []
    joined = False  # the previous physical line ended in a backslash
    for number, raw in enumerate(text.splitlines(), 1):
        last = logical[-1][1] if logical else None
        if last is not None and (joined or (raw[:1].isspace() and
                                            not last.lower().startswith("include"))):
            # (after a blank line, an indented line starts the next logical line)
            first = logical[-1][0] if last else number
            logical[-1] = (first, last + (raw if joined else " " + raw[1:]))
        else:
            logical.append((number, raw))
        line = logical[-1][1]
        joined = line.endswith("\\") and not line.endswith("\\\\")
        if joined:
            logical[-1] = (logical[-1][0], line[:-1])
    out: list[tuple[int, list[str]]] = []
    for number, line in logical:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = _slapd_words(line)
        if words is None:
            raise ConfigError(f"{path}:{number}: unbalanced quotes", path=path, line=number)
        out.append((number, words))
    return out


def _slapd_words(line: str) -> list[str] | None:
    """slapd's strtok_quote: blanks separate, ``"`` toggles quoting, ``\\`` escapes."""
    words: list[str] = []
    word: list[str] | None = None
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c in " \t" and not quoted:
            if word is not None:
                words.append("".join(word))
            word = None
        else:
            word = word if word is not None else []
            if c == '"':
                quoted = not quoted
            elif c == "\\" and i + 1 < len(line):
                word.append(line[i + 1])
                i += 1
            else:
                word.append(c)
        i += 1
    if word is not None:
        words.append("".join(word))
    return None if quoted else words


ADAPTER = SlapdAdapter()
