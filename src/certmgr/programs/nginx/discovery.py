"""nginx: crossplane's lexer and directive table, read through the host seam.

crossplane's own ``parse`` opens files itself (it would read this machine's
/etc under ``--root``), so files are read through the host and handed to its
lexer; the statement tree and ``include`` expansion are built here, and each
statement goes through crossplane's analyzer (unknown directives, wrong
context, wrong argument count become CONFIG_ERROR).
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import ClassVar

import crossplane
from crossplane import analyzer, lexer

from certmgr.errors import ConfigError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.apache2.discovery import split_address
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

__all__ = ["NginxAdapter", "Statement", "parse_nginx"]

# Blocks whose contents are data (MIME types, map entries), not directives.
_FREE_FORM = {"types", "map", "geo", "split_clients", "charset_map", "match"}


@dataclass
class Statement:
    """One directive with its arguments, file, line and block (if any)."""

    directive: str
    args: list[str]
    path: str
    line: int
    block: list[Statement] | None = None

    def find(self, name: str) -> list[Statement]:
        return [s for s in self.block or [] if s.directive == name]


@dataclass
class _Reader:
    ctx: DiscoveryContext
    prefix: str
    guard: IncludeGuard = field(init=False)

    def __post_init__(self) -> None:
        self.guard = IncludeGuard(self.ctx.host)

    def read(self, path: str, context: tuple[str, ...], from_path: str | None = None,
             from_line: int | None = None) -> list[Statement]:
        self.guard.enter(path, from_path=from_path, from_line=from_line)
        try:
            text = self.ctx.read_text(path)
            try:
                # crossplane's own lexer, fed the text the host gave us.
                tokens = list(lexer._balance_braces(
                    lexer._lex_file_object(io.StringIO(text)), path))
            except crossplane.errors.NgxParserBaseException as exc:
                raise ConfigError(f"{path}:{exc.lineno}: {exc.strerror}", path=path,
                                  line=exc.lineno) from None
            return self._statements(path, iter(tokens), context)
        finally:
            self.guard.leave()

    def _statements(self, path: str, tokens: Iterator[tuple[str, int, bool]],
                    context: tuple[str, ...]) -> list[Statement]:
        out: list[Statement] = []
        for word, line, quoted in tokens:
            if word == "}" and not quoted:
                break
            if word.startswith("#") and not quoted:
                continue
            args: list[str] = []
            term = ""
            for arg, _l, q in tokens:
                if not q and arg in (";", "{", "}"):
                    term = arg
                    break
                args.append(arg)
            if term not in (";", "{"):
                raise ConfigError(f"{path}:{line}: directive '{word}' is not terminated by "
                                  "';'", path=path, line=line)
            if not context or context[-1] not in _FREE_FORM:
                self._analyze(path, word, args, line, term, context)
            stmt = Statement(word, args, path, line)
            if term == "{":
                stmt.block = self._statements(path, tokens, (*context, word))
            if word == "include" and args:
                out.extend(self._include(path, line, args[0], context))
            else:
                out.append(stmt)
        return out

    def _analyze(self, path: str, directive: str, args: list[str], line: int, term: str,
                 context: tuple[str, ...]) -> None:
        stmt = {"directive": directive, "args": args, "line": line}
        try:
            analyzer.analyze(path, stmt, term, context, strict=True)
        except crossplane.errors.NgxParserBaseException as exc:
            raise ConfigError(f"{path}:{line}: {exc.strerror}", path=path, line=line) from None

    def _include(self, path: str, line: int, pattern: str,
                 context: tuple[str, ...]) -> list[Statement]:
        pattern = resolve_path(self.prefix, pattern)
        if any(c in pattern for c in "*?["):
            targets = self.ctx.host.glob(pattern)
        else:
            if not self.ctx.host.exists(pattern):
                raise ConfigError(f"{path}:{line}: included file {pattern} does not exist",
                                  path=path, line=line)
            targets = [pattern]
        out: list[Statement] = []
        for target in targets:
            st = self.ctx.host.stat(target)
            if st is not None and st.is_file:
                out.extend(self.read(target, context, path, line))
        return out


def parse_nginx(ctx: DiscoveryContext, config: str) -> list[Statement]:
    """The statements of ``config`` with includes expanded in place."""
    return _Reader(ctx, posixpath.dirname(config)).read(config, ())


class NginxAdapter(FindsConfigFile):
    """nginx (any packaging; Debian's /etc/nginx layout by default)."""

    name: ClassVar[str] = "nginx"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/nginx/nginx.conf",)

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        try:
            top = parse_nginx(ctx, config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, "root", ())
        prefix = posixpath.dirname(config)
        slots: list[Slot] = []
        for block in (s for s in top if s.directive in ("http", "stream")):
            inherited = {d: block.find(d) for d in ("ssl_certificate", "ssl_certificate_key",
                                                    "ssl_trusted_certificate",
                                                    "ssl_password_file")}
            for server in block.find("server"):
                found = _server_slots(ctx, prefix, server, inherited)
                if block.directive == "stream":
                    # A TLS-terminating TCP proxy (mail ports...): named by its port, as
                    # stream servers have no server_name before nginx 1.25.5.
                    found = [replace(slot, id=f"nginx:stream:{slot.endpoints[0].port}")
                             for slot in found]
                slots.extend(found)
        from certmgr.programs.nginx.webroot import web_roots

        return Service(self.kind, config, "root", tuple(unique_ids(slots)),
                       webroots=web_roots(top, prefix))


def _server_slots(ctx: DiscoveryContext, prefix: str, server: Statement,
                  inherited: dict[str, list[Statement]]) -> list[Slot]:
    ssl_on = any(s.args[:1] == ["on"] for s in server.find("ssl"))
    endpoints: list[Endpoint] = []
    names: list[str] = []
    for arg in (n for s in server.find("server_name") for n in s.args):
        if not arg or arg == "_" or arg.startswith("~"):
            continue  # the catch-all and regular expressions name no certificate
        # ".example.com" is nginx's short form of example.com plus *.example.com
        for name in ([arg[1:], "*" + arg] if arg.startswith(".") else [arg]):
            if name not in names:
                names.append(name)
    sni = names[0] if names else None
    for listen in server.find("listen"):
        if not listen.args or listen.args[0].startswith("unix:"):
            continue
        if "ssl" not in listen.args[1:] and not ssl_on:
            continue
        address, port = split_address(listen.args[0])
        if port is None and listen.args[0].isdigit():
            port = int(listen.args[0])
        if address == "::" and "ipv6only=off" in listen.args[1:]:
            address = "*"  # one socket for both families
        endpoints.append(Endpoint(address, port or 80, TlsMode.DIRECT, sni))
    if not endpoints:
        return []
    certs = server.find("ssl_certificate") or inherited["ssl_certificate"]
    keys = server.find("ssl_certificate_key") or inherited["ssl_certificate_key"]
    trusted = server.find("ssl_trusted_certificate") or inherited["ssl_trusted_certificate"]
    passwords = server.find("ssl_password_file") or inherited["ssl_password_file"]
    source = f"file:{resolve_path(prefix, passwords[0].args[0])}" \
        if passwords and passwords[0].args else None
    out: list[Slot] = []
    for i, cert in enumerate(certs):
        key = keys[i] if i < len(keys) else None
        settings = {"cert": Setting(cert.path, cert.line, "ssl_certificate")}
        if key is not None:
            settings["key"] = Setting(key.path, key.line, "ssl_certificate_key")
        cert_path = resolve_path(prefix, cert.args[0]) if cert.args else None
        out.append(Slot(
            id=f"nginx:{names[0] if names else '_default_'}", config=server.path,
            line=server.line, names=tuple(names or [ctx.hostname()]),
            names_from="config" if names else "host", endpoints=tuple(endpoints),
            cert=cert_path,
            key=resolve_path(prefix, key.args[0]) if key is not None and key.args else cert_path,
            ca=resolve_path(prefix, trusted[0].args[0]) if trusted and trusted[0].args else None,
            settings=settings, password_source=source))
    return out


ADAPTER = NginxAdapter()
