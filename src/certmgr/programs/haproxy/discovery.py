"""HAProxy: ``bind ADDR:PORT ssl crt FILE|DIR`` in frontend and listen sections.

Each certificate file is a slot ``haproxy:FRONTEND`` (``haproxy:FRONTEND:FILE``
when a bind names several files or a directory). HAProxy reads combined PEM
files (certificate, chain and key in one), or ``FILE.key`` beside ``FILE``.
"""

from __future__ import annotations

import posixpath
import re
import shlex
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

__all__ = ["HaproxyAdapter", "parse_haproxy"]

_SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "peers", "resolvers",
             "userlist", "mailers", "program", "http-errors", "ring", "cache", "fcgi-app",
             "crt-store", "traces", "log-forward"}
# Spellings of "every address" in bind lines (compared, never bound to).
_ANY = {"", "*", "::", "0.0.0.0"}  # noqa: S104
_NOT_CERTS = (".key", ".ocsp", ".issuer", ".sctl", ".crt-list")

Section = tuple[str, str, int, list[tuple[list[str], int]]]


def parse_haproxy(text: str, path: str) -> list[Section]:
    """(keyword, name, line, [(words, line)]) per section."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if "#" in raw else raw.strip()
        if not line:
            continue
        try:
            words = shlex.split(line, posix=True)
        except ValueError:
            raise ConfigError(f"{path}:{number}: unbalanced quotes", path=path,
                              line=number) from None
        if words[0] in _SECTIONS:
            sections.append((words[0], words[1] if len(words) > 1 else "", number, []))
        elif not sections:
            raise ConfigError(f"{path}:{number}: '{words[0]}' outside any section", path=path,
                              line=number)
        else:
            sections[-1][3].append((words, number))
    return sections


def _bind_address(spec: str) -> tuple[str, int | None]:
    """HAProxy's ``[ipv4@|ipv6@]ADDR:PORT``: the port is after the last colon, always
    (IPv6 addresses are written without brackets, ``:::443`` is any address)."""
    spec = spec.split("@", 1)[-1]
    address, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return split_address(spec)
    address = address.strip("[]")
    return ("*" if address in _ANY else address), int(port)


class HaproxyAdapter(FindsConfigFile):
    """HAProxy 1.5 and later."""

    name: ClassVar[str] = "haproxy"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/haproxy/haproxy.cfg",)

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        try:
            sections = parse_haproxy(ctx.read_text(config), config)
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
        return Service(self.kind, config, "root", tuple(unique_ids(slots)))

    def _bind(self, ctx: DiscoveryContext, config: str, frontend: str, words: list[str],
              number: int, crt_base: str, ca_base: str) -> list[Slot]:
        endpoints = []
        for spec in words[1].split(","):
            address, port = _bind_address(spec)
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
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            # "file [ssl options] sni-filter..." (a "!name" filter excludes a name)
            words = re.sub(r"\[[^\]]*\]", " ", line).split()
            cert = words[0] if words[0].startswith("/") else posixpath.join(crt_base, words[0])
            out.append((cert, tuple(w for w in words[1:] if not w.startswith("!")),
                        Setting(path, number, "crt-list")))
        return out


ADAPTER = HaproxyAdapter()
