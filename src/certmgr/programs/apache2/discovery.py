"""Apache 2: ``apache2.conf`` with Include/IncludeOptional globs, vhosts and mod_ssl settings.

Layers: :func:`logical_lines` is the syntax (continuation lines, comments,
quoting; line numbers kept so edits can be made in place), :class:`ApacheWalker`
builds the semantic model (global scope + one scope per ``<VirtualHost>``,
conditionals evaluated against the loaded modules and defines), and
:class:`Apache2Adapter` applies the policy (which vhosts are TLS slots, their
names, ids and endpoints).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import ClassVar

from certmgr.errors import ConfigError, HostError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.base import (
    DiscoveryContext,
    FindsConfigFile,
    IncludeGuard,
    NameSource,
    Service,
    Setting,
    Slot,
    resolve_path,
    unique_ids,
)

__all__ = ["Apache2Adapter", "ApacheWalker", "Scope", "logical_lines"]

_VAR = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_CONDITIONALS = {"ifmodule", "ifdefine", "iffile"}
_SSL_FILES = {"sslcertificatefile": "cert", "sslcertificatekeyfile": "key",
              "sslcertificatechainfile": "chain", "sslcacertificatefile": "ca"}


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical line): continuations joined, comments dropped.

    Apache 2.4: a backslash right before the end of a line (no blank after it,
    and not itself escaped as ``\\\\``) joins the next line at its place, blanks
    kept; the joined line is then trimmed, and one starting with ``#`` is a
    comment (a comment ending in a backslash swallows the next line).
    """
    pending: str | None = None
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if pending is None:
            start, pending = number, raw
        else:
            pending += raw
        if pending.endswith("\\") and not pending.endswith("\\\\"):
            pending = pending[:-1]
            continue
        line, pending = pending.strip(), None
        if line and not line.startswith("#"):
            yield start, line
    if pending is not None and pending.strip() and not pending.strip().startswith("#"):
        yield start, pending.strip()


_ARG = re.compile(r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(\S+)')


def _head(line: str) -> tuple[str, str]:
    """A directive's name and the rest, split at the first blank (space or tab)."""
    parts = line.strip().split(None, 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0] if parts else "", "")


def split_args(text: str) -> list[str]:
    """Apache's argument splitting: whitespace, double or single quotes."""
    if '"' not in text and "'" not in text:
        return text.split()  # the common case, and the fast one (1,000-vhost trees)
    # In quotes, \\ is a backslash and \" (\' in single quotes) the quote; any other
    # backslash stays as written (Apache's ap_getword_conf).
    return [re.sub(r'\\([\\"])', r"\1", m.group(1)) if m.group(1) is not None else
            re.sub(r"\\([\\'])", r"\1", m.group(2)) if m.group(2) is not None else m.group(3)
            for m in _ARG.finditer(text)]


@dataclass
class Scope:
    """Directives of the main server or one vhost: lower-case name -> [(args, path, line)]."""

    path: str
    line: int
    addresses: list[str] = field(default_factory=list)
    directives: dict[str, list[tuple[list[str], str, int]]] = field(default_factory=dict)

    def add(self, name: str, args: list[str], path: str, line: int) -> None:
        self.directives.setdefault(name.lower(), []).append((args, path, line))

    def last(self, name: str) -> tuple[list[str], str, int] | None:
        found = self.directives.get(name.lower())
        return found[-1] if found else None


@dataclass
class ApacheWalker:
    """Reads an Apache configuration tree through the host, following includes."""

    ctx: DiscoveryContext
    server_root: str
    defines: dict[str, str] = field(default_factory=dict)
    modules: set[str] = field(default_factory=set)
    listens: list[tuple[str, int, str | None]] = field(default_factory=list)
    main: Scope = field(default_factory=lambda: Scope("", 0))
    vhosts: list[Scope] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.guard = IncludeGuard(self.ctx.host)
        self._vhost: Scope | None = None

    def walk(self, path: str, *, from_path: str | None = None,
             from_line: int | None = None) -> None:
        """Read ``path`` and everything it includes; errors become ConfigError."""
        self.guard.enter(path, from_path=from_path, from_line=from_line)
        try:
            self._walk_text(path, self.ctx.read_text(path))
        finally:
            self.guard.leave()

    def expand(self, value: str) -> str:
        return _VAR.sub(lambda m: self.defines.get(m.group(1), m.group(0)), value)

    def _walk_text(self, path: str, text: str) -> None:
        stack: list[tuple[str, int]] = []
        skip_depth = 0
        for number, line in logical_lines(text):
            if line.startswith("</"):
                self._close(path, number, line, stack)
                if skip_depth and len(stack) < skip_depth:
                    skip_depth = 0
                continue
            if line.startswith("<"):
                if not line.endswith(">"):
                    raise ConfigError(f"{path}:{number}: section opening lacks '>': {line[:60]}",
                                      path=path, line=number)
                name, rest = _head(line[1:-1])
                stack.append((name.lower(), number))
                if not skip_depth and not self._open(path, number, name.lower(), rest.strip()):
                    skip_depth = len(stack)
                continue
            if not skip_depth:
                self._directive(path, number, line)
        if stack:
            name, number = stack[-1]
            raise ConfigError(f"{path}:{number}: <{name}> is never closed", path=path,
                              line=number)

    def _close(self, path: str, number: int, line: str, stack: list[tuple[str, int]]) -> None:
        name = line[2:].rstrip(">").strip().lower()
        if not stack or stack[-1][0] != name:
            expected = f"</{stack[-1][0]}>" if stack else "no closing tag"
            raise ConfigError(f"{path}:{number}: {line} does not match the open section "
                              f"(expected {expected})", path=path, line=number)
        stack.pop()
        if name == "virtualhost":
            self._vhost = None

    def _open(self, path: str, number: int, name: str, args: str) -> bool:
        """Enter a section; False if its contents do not apply (a false conditional)."""
        if name == "virtualhost":
            if self._vhost is not None:
                raise ConfigError(f"{path}:{number}: <VirtualHost> inside another one",
                                  path=path, line=number)
            self._vhost = Scope(path, number, split_args(self.expand(args)))
            self.vhosts.append(self._vhost)
            return True
        if name in _CONDITIONALS:
            return self._condition(name, args.strip())
        return True

    def _condition(self, name: str, arg: str) -> bool:
        negate = arg.startswith("!")
        arg = arg.lstrip("!").strip()
        if name == "ifdefine":
            result = arg in self.defines
        elif name == "iffile":
            # Apache 2.4.34+: a path (quoted or not), absolute or relative to ServerRoot
            path = resolve_path(self.server_root, (split_args(self.expand(arg)) or [""])[0])
            result = self.ctx.host.exists(path)
        elif not self.modules:
            # No LoadModule seen at all: a self-contained tree or a fragment; assume loaded.
            result = True
        else:
            result = arg in self.modules or arg in _BUILTIN_MODULES
        return result != negate

    def _directive(self, path: str, number: int, line: str) -> None:
        name, rest = _head(line)
        args = split_args(self.expand(rest.strip()))
        lower = name.lower()
        if lower in ("include", "includeoptional"):
            self._include(path, number, args, optional=lower == "includeoptional")
        elif lower == "define" and args:
            self.defines[args[0]] = args[1] if len(args) > 1 else ""
        elif lower == "loadmodule" and len(args) >= 2:
            self.modules.add(args[0])
            base = posixpath.basename(args[1])
            if base.startswith("mod_") and base.endswith(".so"):
                self.modules.add(base[:-3] + ".c")
        elif lower == "serverroot" and args:
            self.server_root = args[0]
        elif lower == "listen" and args:
            self._listen(path, number, args)
        else:
            (self._vhost or self.main).add(name, args, path, number)

    def _listen(self, path: str, number: int, args: list[str]) -> None:
        address, port = split_address(args[0])
        if port is None:
            raise ConfigError(f"{path}:{number}: Listen {args[0]} has no valid port", path=path,
                              line=number)
        self.listens.append((address, port, args[1].lower() if len(args) > 1 else None))

    def _include(self, path: str, number: int, args: list[str], *, optional: bool) -> None:
        if not args:
            raise ConfigError(f"{path}:{number}: Include without a file", path=path, line=number)
        pattern = resolve_path(self.server_root, args[0])
        host = self.ctx.host
        if any(ch in pattern for ch in "*?["):
            targets = host.glob(pattern)
        else:
            st = host.stat(pattern)
            if st is None:
                if optional:
                    return
                raise ConfigError(f"{path}:{number}: included file {pattern} does not exist",
                                  path=path, line=number)
            targets = [pattern]
        for target in targets:
            # Most targets are files; only ask the host about directories when the path
            # looks like one (a trailing slash or no glob), to keep big trees fast.
            st = host.stat(target) if target == pattern or target.endswith("/") else None
            if st is not None and st.is_dir:
                for child in host.listdir(target):
                    self.walk(posixpath.join(target, child), from_path=path, from_line=number)
            else:
                self.walk(target, from_path=path, from_line=number)


# Modules compiled into Debian's apache2 binary (``apache2 -l``).
_BUILTIN_MODULES = {"core.c", "mod_so.c", "mod_watchdog.c", "http_core.c", "mod_log_config.c",
                    "mod_logio.c", "mod_version.c", "mod_unixd.c", "so_module",
                    "log_config_module", "logio_module", "version_module", "unixd_module"}


def split_address(text: str) -> tuple[str, int | None]:
    """``*:443`` -> ("*", 443); ``[::1]:443``; ``443`` -> ("*", 443); ``1.2.3.4`` -> (.., None)."""
    if text.isdigit():
        return "*", int(text)
    host, sep, port = text.rpartition(":")
    if not sep or host.endswith(":") or (host.count(":") and not host.startswith("[")):
        host, port = text, ""
    host = host.strip("[]") or "*"
    if host == "_default_":
        host = "*"
    number = int(port) if port.isdigit() and 0 < int(port) < 65536 else None
    return host, number


def _server_name(value: str) -> str:
    name = value.split("://", 1)[-1]
    if name.startswith("["):
        return name
    return name.rsplit(":", 1)[0] if name.count(":") == 1 else name


def _envvars(ctx: DiscoveryContext, server_root: str) -> dict[str, str]:
    """Debian's ``envvars``: ``export APACHE_X=value`` lines (no shell evaluation)."""
    out: dict[str, str] = {}
    try:
        text = ctx.try_read(posixpath.join(server_root, "envvars"))
    except ConfigError:
        return out
    for line in (text or "").splitlines():
        m = re.match(r"\s*export\s+([A-Z0-9_]+)=(.*)$", line)
        if m:
            value = m.group(2).strip().strip("'\"")
            out[m.group(1)] = re.sub(r"\$SUFFIX|\$\{SUFFIX\}", "", value)
    return out


def _runtime(ctx: DiscoveryContext, config: str, walker: ApacheWalker) -> None:
    """Seed the walker with the modules and defines the installed Apache really has.

    ``apache2ctl -M`` and ``-D DUMP_RUN_CFG`` (through Debian's envvars) know the
    compiled-in modules and the ``-D`` flags of the start command, so that
    ``<IfModule>``/``<IfDefine>`` are decided as Apache decides them. Only for
    the packaged configuration, on a host that can run commands.
    """
    host = ctx.host
    if not host.can_run or config != "/etc/apache2/apache2.conf" or \
            host.which("apache2ctl") is None:
        return
    try:
        modules = host.run(["apache2ctl", "-t", "-D", "DUMP_MODULES"], timeout=20, check=False)
        run_cfg = host.run(["apache2ctl", "-t", "-D", "DUMP_RUN_CFG"], timeout=20, check=False)
    except HostError:
        return
    for line in modules.stdout.splitlines():
        m = re.match(r"^\s+(\w+)_module \((?:static|shared)\)", line)
        if m:
            walker.modules.update({f"{m.group(1)}_module", f"mod_{m.group(1)}.c"})
    for line in run_cfg.stdout.splitlines():
        m = re.match(r"^Define: (\w+)(?:=(.*))?$", line)
        if m and m.group(1) != "DUMP_RUN_CFG":
            walker.defines.setdefault(m.group(1), m.group(2) or "")


class Apache2Adapter(FindsConfigFile):
    """Apache httpd 2.x as packaged by Debian/Ubuntu (and RHEL's httpd layout)."""

    name: ClassVar[str] = "apache2"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/apache2/apache2.conf",
                                                    "/etc/httpd/conf/httpd.conf")

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        walker = self.read(ctx, config)
        slots: list[Slot] = []
        if walker is not None:
            default_port = next((p for _a, p, proto in walker.listens if proto == "https"),
                                443)
            for scope in walker.vhosts:
                slots.extend(self._pairs(ctx, walker, scope, default_port))
            slots[:0] = self._pairs(ctx, walker, walker.main, default_port)
        from certmgr.programs.apache2.webroot import web_roots

        return Service(self.kind, config, "root", tuple(unique_ids(slots)),
                       webroots=web_roots(walker) if walker is not None else ())

    def read(self, ctx: DiscoveryContext, config: str) -> ApacheWalker | None:
        """The semantic model of the tree, or None (with a CONFIG_ERROR) if unreadable."""
        server_root = posixpath.dirname(config)
        if server_root.endswith("/conf"):
            server_root = posixpath.dirname(server_root)  # RHEL: /etc/httpd/conf/httpd.conf
        walker = ApacheWalker(ctx, server_root, defines=_envvars(ctx, server_root))
        walker.main = Scope(config, 1)
        _runtime(ctx, config, walker)
        try:
            walker.walk(config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return walker if walker.vhosts else None
        return walker

    def _pairs(self, ctx: DiscoveryContext, walker: ApacheWalker, scope: Scope,
               default_port: int) -> list[Slot]:
        """The slots of one scope: one per certificate/key pair it configures.

        mod_ssl pairs the Nth ``SSLCertificateFile`` with the Nth key file (an RSA
        and an ECDSA certificate side by side). The first pair keeps the scope's
        plain id; the next ones are ``...:cert2``, ``...:cert3``.
        """
        def own_or_main(name: str) -> list[tuple[list[str], str, int]]:
            return scope.directives.get(name) or (
                walker.main.directives.get(name, []) if scope is not walker.main else [])

        certs = own_or_main("sslcertificatefile")
        keys = own_or_main("sslcertificatekeyfile")
        out: list[Slot] = []
        for index in range(max(1, len(certs))):
            pair = {"sslcertificatefile": certs[index] if index < len(certs) else None,
                    "sslcertificatekeyfile": keys[index] if index < len(keys) else None}
            slot = self._slot(ctx, walker, scope, default_port, pair)
            if slot is not None:
                out.append(slot if index == 0 else replace(slot, id=f"{slot.id}:cert{index + 1}"))
        return out

    def _slot(self, ctx: DiscoveryContext, walker: ApacheWalker, scope: Scope,
              default_port: int,
              pair: dict[str, tuple[list[str], str, int] | None]) -> Slot | None:
        main = walker.main

        def get(name: str) -> tuple[list[str], str, int] | None:
            if name.lower() in pair:
                return pair[name.lower()]
            return scope.last(name) or (main.last(name) if scope is not main else None)

        engine = get("SSLEngine")
        if engine is None or not engine[0] or engine[0][0].lower() != "on":
            return None
        found: dict[str, str] = {}
        settings: dict[str, Setting] = {}
        for directive, role in _SSL_FILES.items():
            entry = get(directive)
            if entry and entry[0]:
                found[role] = resolve_path(walker.server_root, entry[0][0])
                settings[role] = Setting(entry[1], entry[2], directive)
        if "cert" in found and "key" not in found:
            found["key"] = found["cert"]  # mod_ssl reads the key from the certificate file
        server_name = scope.last("ServerName") or main.last("ServerName")
        names: list[str] = []
        if server_name and server_name[0]:
            names.append(_server_name(server_name[0][0]))
        for args, _p, _l in scope.directives.get("serveralias", []):
            names.extend(a for a in args if a not in names)
        sni = names[0] if names else None
        endpoints = self._endpoints(walker, scope, default_port, sni)
        names_from: NameSource = "config" if names else "host"
        instance = names[0] if names else "_default_"
        dialog = main.last("SSLPassPhraseDialog")
        source = dialog[0][0] if dialog and dialog[0] and dialog[0][0] != "builtin" else None
        return Slot(
            id=f"apache2:{instance}", config=scope.path, line=scope.line, password_source=source,
            names=tuple(names or [ctx.hostname()]), names_from=names_from,
            endpoints=tuple(endpoints), cert=found.get("cert"), key=found.get("key"),
            chain=found.get("chain"), ca=found.get("ca"), settings=settings)

    def _endpoints(self, walker: ApacheWalker, scope: Scope, default_port: int,
                   sni: str | None) -> list[Endpoint]:
        out: list[Endpoint] = []
        if scope is walker.main:
            ports = [(a, p) for a, p, proto in walker.listens if proto in (None, "https")]
            return [Endpoint(a, p, TlsMode.DIRECT, sni) for a, p in ports[:1]] or \
                [Endpoint("*", default_port, TlsMode.DIRECT, sni)]
        for address in scope.addresses:
            host, port = split_address(address)
            port = port or default_port
            # A "*:443" vhost answers where Apache listens on 443: "Listen 192.0.2.1:443"
            # narrows it to that address; "Listen 443" with "Listen [::]:443" is both.
            listens = list(dict.fromkeys(a for a, p, _proto in walker.listens if p == port))
            hosts = listens if host == "*" and listens else [host]
            for h in hosts:
                endpoint = Endpoint(h, port, TlsMode.DIRECT, sni)
                if endpoint not in out:
                    out.append(endpoint)
        return out


ADAPTER = Apache2Adapter()
