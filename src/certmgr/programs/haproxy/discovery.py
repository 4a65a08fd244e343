"""HAProxy: ``bind ADDR:PORT ssl crt FILE|DIR`` in frontend and listen sections.

Each certificate file is a slot ``haproxy:FRONTEND`` (``haproxy:FRONTEND:FILE``
when a bind names several files or a directory). HAProxy reads combined PEM
files (certificate, chain and key in one), or ``FILE.key`` beside ``FILE``.
"""

from __future__ import annotations

import posixpath
import re
from typing import ClassVar

from certmgr.errors import ConfigError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.apache2.discovery import split_address
from certmgr.programs.base import (
    DiscoveryContext,
    FindsConfigFile,
    Service,
    Setting,
    Slot,
    unique_ids,
)
from certmgr.programs.haproxy.webroot import web_roots
from certmgr.programs.slapd.discovery import read_default_file

__all__ = ["HaproxyAdapter", "parse_haproxy"]

_SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
             "userlist", "mailers", "program", "http-errors", "ring", "cache", "fcgi-app",
             "crt-store", "traces", "log-forward"}
# Spellings of "every address" in bind lines (compared, never bound to).
_ANY = {"", "*", "::", "0.0.0.0"}  # noqa: S104
_NOT_CERTS = (".key", ".ocsp", ".issuer", ".sctl", ".crt-list")

Section = tuple[str, str, int, list[tuple[list[str], int]]]


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_ESCAPES = {" ": " ", "#": "#", "\\": "\\", "'": "'", '"': '"', "t": "\t", "n": "\n",
            "r": "\r", "$": "$"}


def split_words(line: str, env: dict[str, str] | None = None) -> list[str]:
    """HAProxy's words of one line (configuration manual 2.2 and 2.3).

    Blanks separate words; ``\\`` escapes a blank, ``#``, a quote, a backslash,
    ``$`` (and ``\\xNN``); ``"..."`` quotes weakly (escapes and ``$VAR``/``${VAR}``
    from ``env`` are interpreted inside), ``'...'`` strongly (nothing is);
    an unquoted, unescaped ``#`` starts a comment. Quoted parts join the
    letters around them into one word. Raises ValueError on an unclosed quote.
    """
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = ""
            else:
                word.append(c)  # type: ignore[union-attr]
        elif c == "\\" and i + 1 < len(line):
            nxt = line[i + 1]
            word = word if word is not None else []
            if nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", line[i + 2:i + 4]):
                word.append(chr(int(line[i + 2:i + 4], 16)))
                i += 4
                continue
            word.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        elif quote == '"':
            if c == '"':
                quote = ""
            elif c == "$" and env is not None and (m := _VAR.match(line, i)):
                word.append(env.get(m.group(1) or m.group(2), ""))  # type: ignore[union-attr]
                i = m.end()
                continue
            else:
                word.append(c)  # type: ignore[union-attr]
        elif c in "'\"":
            quote = c
            word = word if word is not None else []
        elif c in " \t\r\n":
            if word is not None:
                words.append("".join(word))
                word = None
        elif c == "#":
            break
        else:
            word = word if word is not None else []
            word.append(c)
        i += 1
    if quote:
        raise ValueError("unbalanced quotes")
    if word is not None:
        words.append("".join(word))
    return words


def parse_haproxy(text: str, path: str, env: dict[str, str] | None = None) -> list[Section]:
    """(keyword, name, line, [(words, line)]) per section.

    Lines of a ``.if`` block whose condition is ``0`` (or of a branch not taken)
    are left out; other conditions (``defined(VAR)``, ``feature(...)``...) are
    taken as true, as HAProxy is usually started so that its config holds.
    """
    sections: list[Section] = []
    branches: list[tuple[bool, bool]] = []  # (this branch is read, a branch was read)
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            words = split_words(raw, env)
        except ValueError:
            raise ConfigError(f"{path}:{number}: unbalanced quotes", path=path,
                              line=number) from None
        if not words:
            continue
        if words[0] in (".if", ".elif", ".else", ".endif"):
            _condition(branches, words, path, number)
            continue
        if branches and not branches[-1][0]:
            continue
        if words[0] in _SECTIONS:
            sections.append((words[0], words[1] if len(words) > 1 else "", number, []))
        elif words[0].startswith("."):
            continue  # .notice, .warning, .diag: messages, not configuration
        elif not sections:
            raise ConfigError(f"{path}:{number}: '{words[0]}' outside any section", path=path,
                              line=number)
        else:
            sections[-1][3].append((words, number))
    if branches:
        raise ConfigError(f"{path}: a .if block is never closed with .endif", path=path)
    return sections


def _condition(branches: list[tuple[bool, bool]], words: list[str], path: str,
               number: int) -> None:
    outer = all(read for read, _done in branches)
    term = " ".join(words[1:]).strip()
    holds = term not in ("0", "", "!1")
    if words[0] == ".if":
        branches.append((outer and holds, holds))
        return
    if not branches:
        raise ConfigError(f"{path}:{number}: {words[0]} without .if", path=path, line=number)
    _read, done = branches.pop()
    outer = all(read for read, _d in branches)
    if words[0] == ".endif":
        return
    take = not done and (words[0] == ".else" or holds)
    branches.append((outer and take, done or take))


def _bind_address(spec: str, v6only: bool = False) -> tuple[str, int | None]:
    """HAProxy's ``[ipv4@|ipv6@]ADDR:PORT``: the port is after the last colon, always
    (IPv6 addresses are written without brackets, ``:::443`` is any address).

    ``:::443`` listens on both families unless the bind says ``v6only``: then it
    is the IPv6 side of a dual-stack pair, ``::``.
    """
    spec = spec.split("@", 1)[-1]
    address, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return split_address(spec)
    address = address.strip("[]")
    if address == "::" and v6only:
        return "::", int(port)
    return ("*" if address in _ANY else address), int(port)


class HaproxyAdapter(FindsConfigFile):
    """HAProxy 1.5 and later."""

    name: ClassVar[str] = "haproxy"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/haproxy/haproxy.cfg",)

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        # The environment the packaged service starts HAProxy with ("$VAR" in the config).
        env = {**read_default_file(ctx, "/etc/default/haproxy"), "HAPROXY_CFGFILES": config}
        try:
            sections = parse_haproxy(ctx.read_text(config), config, env)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, "root", ())
        crt_base = ca_base = posixpath.dirname(config)
        for keyword, _name, _line, lines in sections:
            if keyword == "global":
                for words, _n in lines:
                    if words[0] == "crt-base" and len(words) > 1:
                        crt_base = words[1]
                    elif words[0] == "ca-base" and len(words) > 1:
                        ca_base = words[1]
        slots: list[Slot] = []
        for keyword, name, _line, lines in sections:
            if keyword not in ("frontend", "listen"):
                continue
            for words, number in lines:
                if words[0] == "bind" and "ssl" in words[2:]:
                    slots.extend(self._bind(ctx, config, name, words, number, crt_base,
                                            ca_base))
        return Service(self.kind, config, "root", tuple(unique_ids(slots)),
                       webroots=web_roots(sections, ctx.host.address))

    def _bind(self, ctx: DiscoveryContext, config: str, frontend: str, words: list[str],
              number: int, crt_base: str, ca_base: str) -> list[Slot]:
        endpoints = []
        for spec in words[1].split(","):
            address, port = _bind_address(spec, "v6only" in words[2:])
            if port is not None:
                endpoints.append(Endpoint(address, port, TlsMode.DIRECT))
        params = words[2:]
        crts = [params[i + 1] for i, w in enumerate(params[:-1]) if w == "crt"]
        ca = next((params[i + 1] for i, w in enumerate(params[:-1]) if w == "ca-file"), None)
        files: list[str] = []
        names: dict[str, tuple[str, ...]] = {}
        listed: dict[str, Setting] = {}  # a crt-list entry is set on its own line there
        for i, word in enumerate(params[:-1]):
            if word == "crt-list":
                for path, filters, where in self._crt_list(ctx, params[i + 1], crt_base):
                    files.append(path)
                    names[path] = filters
                    listed[path] = where
        for crt in crts:
            path = crt if crt.startswith("/") else posixpath.join(crt_base, crt)
            st = ctx.host.stat(path)
            if st is not None and st.is_dir:
                files.extend(posixpath.join(path, n) for n in ctx.host.listdir(path)
                             if not n.endswith(_NOT_CERTS) and not n.startswith("."))
            else:
                files.append(path)
        out: list[Slot] = []
        for path in files:
            instance = frontend if len(files) == 1 else \
                f"{frontend}:{posixpath.basename(path).removesuffix('.pem')}"
            key = path + ".key" if ctx.host.exists(path + ".key") else path
            own = names.get(path, ())
            out.append(Slot(
                id=f"haproxy:{instance}", config=config, line=number,
                names=own or (ctx.hostname(),), names_from="config" if own else "host",
                endpoints=tuple(endpoints),
                cert=path, key=key,
                ca=(ca if ca.startswith("/") else posixpath.join(ca_base, ca)) if ca else None,
                settings={"cert": listed.get(path, Setting(config, number, "crt"))}))
        return out

    def _crt_list(self, ctx: DiscoveryContext, crt_list: str,
                  crt_base: str) -> list[tuple[str, tuple[str, ...], Setting]]:
        """(certificate file, SNI names, where it is set) per line of a ``crt-list`` file."""
        path = crt_list if crt_list.startswith("/") else posixpath.join(crt_base, crt_list)
        try:
            text = ctx.read_text(path)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return []
        out: list[tuple[str, tuple[str, ...], Setting]] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            try:
                line = " ".join(split_words(raw))
            except ValueError:
                ctx.config_error(self.kind, f"{path}:{number}: unbalanced quotes", path=path,
                                 line=number)
                continue
            if not line:
                continue
            # "file [ssl options] sni-filter..." (a "!name" filter excludes a name)
            words = re.sub(r"\[[^\]]*\]", " ", line).split()
            cert = words[0] if words[0].startswith("/") else posixpath.join(crt_base, words[0])
            out.append((cert, tuple(w for w in words[1:] if not w.startswith("!")),
                        Setting(path, number, "crt-list")))
        return out


ADAPTER = HaproxyAdapter()
