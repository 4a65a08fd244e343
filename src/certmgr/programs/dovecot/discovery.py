"""Dovecot 1.x to 2.4: ``!include`` trees, ``ssl_cert = <file``, protocols and listeners.

The top-level ssl settings are slot ``dovecot``; a ``local_name NAME {}``,
``local ADDR {}`` or ``protocol NAME {}`` block with its own certificate is
slot ``dovecot:NAME``. Settings by era: 2.x ``ssl_cert = <FILE``, 2.4
``ssl_server_cert_file = FILE``, 1.x ``ssl_cert_file = FILE``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import ClassVar

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
    unique_ids,
)

__all__ = ["DovecotAdapter", "Section", "parse_dovecot"]

_SETTING = re.compile(r"^([A-Za-z0-9_]+)\s*=\s*(.*)$")
_OPEN = re.compile(r"^([A-Za-z0-9_-]+)(?:\s+(.+?))?\s*\{$")
_ROLES = {
    "ssl_cert": "cert", "ssl_key": "key", "ssl_ca": "ca",
    "ssl_server_cert_file": "cert", "ssl_server_key_file": "key", "ssl_server_ca_file": "ca",
    "ssl_cert_file": "cert", "ssl_key_file": "key", "ssl_ca_file": "ca",
}
_PASSWORDS = ("ssl_key_password", "ssl_server_key_password")
# protocol -> [(listener name, default port, TLS mode)]
_LISTENERS = {
    "imap": [("imap", 143, TlsMode.STARTTLS_IMAP), ("imaps", 993, TlsMode.DIRECT)],
    "pop3": [("pop3", 110, TlsMode.STARTTLS_POP3), ("pop3s", 995, TlsMode.DIRECT)],
    # Dovecot 1.x names the implicit-TLS variants as protocols of their own.
    "imaps": [("imaps", 993, TlsMode.DIRECT)],
    "pop3s": [("pop3s", 995, TlsMode.DIRECT)],
}


@dataclass
class Section:
    """A ``type [name] { ... }`` block (or the top level): settings with file and line."""

    type: str
    name: str
    path: str
    line: int
    settings: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    children: list[Section] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        found = self.settings.get(key)
        return found[0] if found else None


def _unquote(value: str) -> str:
    """A ``"..."`` or ``'...'`` value without its quotes, ``\\`` escapes undone."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _uncomment(line: str) -> str:
    """The line up to a ``#`` outside quotes (Dovecot's comment rule), right-trimmed."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "#":
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def _logical(text: str) -> list[tuple[int, str]]:
    """(first line, line) with comments dropped and ``\\`` continuations joined by a blank."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = _uncomment(line)
        if line.endswith("\\"):
            part = line[:-1].rstrip()
            pending = (pending[0], pending[1] + part + " ") if pending else (number, part + " ")
            continue
        if pending is not None:
            number, line = pending[0], pending[1] + line
            pending = None
        out.append((number, line))
    if pending is not None and pending[1].strip():
        out.append((pending[0], pending[1].strip()))
    return out


def parse_dovecot(ctx: DiscoveryContext, path: str) -> Section:
    """The configuration tree at ``path`` with its ``!include``s read in place."""
    top = Section("", "", path, 0)
    _parse_file(ctx, path, [top], IncludeGuard(ctx.host), None, None)
    return top


def _parse_file(ctx: DiscoveryContext, path: str, stack: list[Section], guard: IncludeGuard,
                from_path: str | None, from_line: int | None) -> None:
    guard.enter(path, from_path=from_path, from_line=from_line)
    try:
        depth = len(stack)
        for number, line in _logical(ctx.read_text(path)):
            _parse_line(ctx, path, number, line, stack, guard)
        if len(stack) > depth:
            opened = stack[-1]
            raise ConfigError(f"{path}:{opened.line}: section '{opened.type} {opened.name}' "
                              "is never closed with '}'", path=path, line=opened.line)
    finally:
        guard.leave()


def _parse_line(ctx: DiscoveryContext, path: str, number: int, line: str,
                stack: list[Section], guard: IncludeGuard) -> None:
    if line.startswith("!include"):
        directive, _, pattern = line.replace("\t", " ").partition(" ")
        pattern = resolve_path(posixpath.dirname(path), _unquote(pattern))
        targets = ctx.host.glob(pattern) if any(c in pattern for c in "*?[") else \
            [pattern] if ctx.host.exists(pattern) else []
        if not targets and directive == "!include" and not any(c in pattern for c in "*?["):
            raise ConfigError(f"{path}:{number}: included file {pattern} does not exist",
                              path=path, line=number)
        for target in targets:
            _parse_file(ctx, target, stack, guard, path, number)
        return
    if line == "}":
        if len(stack) == 1:
            raise ConfigError(f"{path}:{number}: '}}' without an open section", path=path,
                              line=number)
        stack.pop()
        return
    opened = _OPEN.match(line)
    if opened:
        section = Section(opened.group(1), _unquote(opened.group(2) or ""), path, number)
        stack[-1].children.append(section)
        stack.append(section)
        return
    setting = _SETTING.match(line)
    if setting is None:
        raise ConfigError(f"{path}:{number}: not a 'key = value' setting or a section: "
                          f"{line[:60]}", path=path, line=number)
    key, value = setting.group(1).lower(), setting.group(2).strip()
    if value.startswith("<"):
        # "key = <FILE" (blanks after "<" skipped; relative to this file's directory)
        value = "<" + resolve_path(posixpath.dirname(path), value[1:].strip())
    else:
        value = _unquote(value)
    if "$" + key in value:
        previous = stack[-1].get(key) or ""
        value = value.replace("$" + key, previous)
    stack[-1].settings[key] = (value, path, number)


class DovecotAdapter(FindsConfigFile):
    """Dovecot 1.x, 2.x and 2.4."""

    name: ClassVar[str] = "dovecot"
    # The seed: with dovecot-postfix installed, Ubuntu 9.04 reads dovecot-postfix.conf.
    config_candidates: ClassVar[tuple[str, ...]] = (
        "/etc/dovecot/dovecot-postfix.conf", "/etc/dovecot/dovecot.conf", "/etc/dovecot.conf")

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        try:
            top = parse_dovecot(ctx, config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, "root", ())
        if not _ssl_enabled(top):
            return Service(self.kind, config, "root", ())
        _runtime_protocols(ctx, config, top)
        tagged = _endpoints(top)
        endpoints = sorted({e for _p, e in tagged}, key=lambda e: (e.port, e.tls.value))
        slots: list[Slot] = []
        top_slot = _slot(top, "dovecot", config, (ctx.hostname(),), "host", endpoints, None)
        if top_slot is not None:
            slots.append(top_slot)
        for section in top.children:
            if section.type not in ("local_name", "local", "protocol") or not section.name:
                continue
            if not any(_ROLES.get(k) == "cert" for k in section.settings):
                continue
            if section.type == "local_name":
                names = tuple(section.name.split())
                eps = [Endpoint(e.address, e.port, e.tls, names[0]) for e in endpoints]
                slot = _slot(section, f"dovecot:{names[0]}", section.path, names, "config",
                             eps, top)
            else:
                eps = [e for p, e in tagged if section.type != "protocol"
                       or p.rstrip("s") == section.name.rstrip("s")]
                slot = _slot(section, f"dovecot:{section.name}", section.path,
                             (ctx.hostname(),), "host", eps, top)
            if slot is not None:
                slots.append(slot)
        return Service(self.kind, config, "root", tuple(unique_ids(slots)))


def _runtime_protocols(ctx: DiscoveryContext, config: str, top: Section) -> None:
    """Let ``doveconf -h protocols`` say which protocols run, where the host can run it.

    Its answer includes the build's default and every ``protocols.d`` file,
    which a files-only reading may not see.
    """
    host = ctx.host
    if not host.can_run or host.which("doveconf") is None:
        return
    try:
        result = host.run(["doveconf", "-c", config, "-h", "protocols"], timeout=20,
                          check=False)
    except HostError:
        return
    if result.ok:
        _value, path, line = top.settings.get("protocols", ("", config, 0))
        top.settings["protocols"] = (result.stdout.strip(), path, line)


def _ssl_enabled(top: Section) -> bool:
    if (top.get("ssl_disable") or "no").lower() == "yes":  # Dovecot 1.x
        return False
    return (top.get("ssl") or "yes").lower() != "no"


def _endpoints(top: Section) -> list[tuple[str, Endpoint]]:
    """(protocol, endpoint) for every TLS-capable listener of the enabled protocols."""
    protocols = (top.get("protocols") if "protocols" in top.settings else "imap pop3 lmtp")
    listen = (top.get("listen") or "*").replace(",", " ").split()
    address = listen[0] if len(listen) == 1 and listen[0] not in ("*", "::") else "*"
    overrides: dict[str, tuple[int, bool]] = {}
    for service in top.children:
        for listener in service.children:
            if service.type == "service" and listener.type == "inet_listener":
                port_text = listener.get("port") or ""
                ssl = (listener.get("ssl") or "no").lower() == "yes"
                if port_text.isdigit():
                    overrides[listener.name] = (int(port_text), ssl)
    out: list[tuple[str, Endpoint]] = []
    for protocol in (protocols or "").split():
        for name, default_port, mode in _LISTENERS.get(protocol, []):
            port, ssl = overrides.get(name, (default_port, mode is TlsMode.DIRECT))
            if 0 < port < 65536:
                tls = TlsMode.DIRECT if ssl else mode
                out.append((protocol, Endpoint(address, port, tls)))
    return out


def _slot(section: Section, slot_id: str, config: str, names: tuple[str, ...],
          names_from: str, endpoints: list[Endpoint], parent: Section | None) -> Slot | None:
    found: dict[str, str] = {}
    settings: dict[str, Setting] = {}
    items = dict(section.settings)
    for child in section.children:
        if child.type == "ssl_server" and not child.name:
            # Dovecot 2.4 also accepts ssl_server { cert_file = ... } for ssl_server_cert_file.
            items.update({f"ssl_server_{k}": v for k, v in child.settings.items()})
    for key, (value, path, line) in items.items():
        role = _ROLES.get(key)
        if role is None or not value:
            continue
        found[role] = value[1:].strip() if value.startswith("<") else value
        settings[role] = Setting(path, line, key)
    if "cert" not in found:
        return None
    password = next((section.get(k) for k in _PASSWORDS if section.get(k)), None)
    if password is None and parent is not None:
        password = next((parent.get(k) for k in _PASSWORDS if parent.get(k)), None)
    cert_setting = settings["cert"]
    return Slot(id=slot_id, config=cert_setting.path if section.type == "" else config,
                line=section.line or None, names=names,
                names_from="config" if names_from == "config" else "host",
                endpoints=tuple(endpoints), cert=found["cert"],
                key=found.get("key", found["cert"]), ca=found.get("ca"), settings=settings,
                password=password)


ADAPTER = DovecotAdapter()
