"""Where haproxy answers plain HTTP in front of a local web server (ACME http-01 tokens
then go under that server's web root).

Each ``frontend`` or ``listen`` section with a ``bind`` without ``ssl`` answers on that
port. The backend a name reaches is chosen as haproxy does for a request: the first
``use_backend BACKEND if ACL...`` whose condition names a host ACL matching the name
(``acl NAME hdr(host) -i NAME...``, also ``req.hdr(host)``, ``hdr_dom(host)`` or an
inline ``{ hdr(host) -i NAME }``), else ``default_backend`` (of the section, else of
``defaults``); a ``listen`` section without one forwards to its own ``server`` lines.
Rules with ``unless`` or a negated ACL are not followed. The backend's
``server NAME ADDR[:PORT]`` lines on a local address (loopback, any, or the host's own)
are the upstreams: :func:`certmgr.programs.base.web_root_for` follows them to the
Apache, nginx or Tomcat web root discovered on that port for the name. Servers on other
hosts are left out (their document root is not on this host).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from certmgr.programs.base import WebRoot

if TYPE_CHECKING:
    from certmgr.programs.haproxy.discovery import Section

__all__ = ["web_roots"]

_HOST_FETCHES = ("hdr(host)", "req.hdr(host)", "hdr_dom(host)", "req.hdr_dom(host)",
                 "hdr_end(host)", "req.hdr_end(host)")
_LOCAL = {"127.0.0.1", "::1", "localhost", "*", "", "0.0.0.0", "::"}  # noqa: S104


def _host_values(words: Sequence[str]) -> tuple[str, ...] | None:
    """The names of a host-header match (``hdr(host) [-i] [-m str] NAME...``), else None."""
    if not words or words[0].split(",")[0] not in _HOST_FETCHES:
        return None
    dom = "dom" in words[0] or "end" in words[0]
    out: list[str] = []
    skip = False
    for word in words[1:]:
        if skip:
            skip = False
        elif word in ("-m", "-f", "-M"):
            skip = True
        elif not word.startswith("-"):
            name = word.lower().split(":")[0]
            out.extend((name, f"*.{name}") if dom else (name,))
    return tuple(dict.fromkeys(out))


def _rule_names(cond: list[str], acls: dict[str, list[str]]) -> tuple[str, ...] | None:
    """Names a ``use_backend ... if COND`` routes; None when it is no (plain) host rule."""
    if not cond or cond[0] != "if":
        return None
    names: list[str] = []
    i, words = 0, cond[1:]
    while i < len(words):
        word = words[i]
        if word.startswith("!"):
            return None
        if word == "{":
            end = words.index("}", i) if "}" in words[i:] else len(words)
            names.extend(_host_values(words[i + 1:end]) or ())
            i = end + 1
            continue
        names.extend(acls.get(word, ()))
        i += 1
    return tuple(dict.fromkeys(names)) or None


def _port(spec: str) -> int | None:
    port = spec.split("@", 1)[-1].rpartition(":")[2]
    return int(port) if port.isdigit() and 0 < int(port) < 65536 else None


def _servers(lines: list[tuple[list[str], int]], port: int,
             local: set[str]) -> tuple[tuple[str, int], ...]:
    out: list[tuple[str, int]] = []
    for words, _n in lines:
        if words[0] != "server" or len(words) < 3 or "disabled" in words[3:]:
            continue
        address, sep, text = words[2].split("@", 1)[-1].rpartition(":")
        if not sep:
            address, text = words[2], ""
        address = address.strip("[]").lower()
        target = int(text) if text.isdigit() and 0 < int(text) < 65536 else port
        if address in local or address.startswith("127."):
            out.append((address, target))
    return tuple(out)


def web_roots(sections: list[Section], own_address: str | None = None) -> tuple[WebRoot, ...]:
    """One :class:`WebRoot` (with ``upstream``) per routed name and per default, for each
    plain port a ``frontend``/``listen`` binds."""
    local = _LOCAL | ({own_address.lower()} if own_address else set())
    backends = {name: lines for kind, name, _l, lines in sections
                if kind in ("backend", "listen")}
    default_backend: str | None = None
    out: list[WebRoot] = []
    for kind, name, _line, lines in sections:
        if kind == "defaults":
            default_backend = next((w[1] for w, _n in lines
                                    if w[0] == "default_backend" and len(w) > 1), None)
        if kind not in ("frontend", "listen"):
            continue
        ports = [p for words, _n in lines if words[0] == "bind" and len(words) > 1
                 and "ssl" not in words[2:] for spec in words[1].split(",")
                 if (p := _port(spec)) is not None]
        acls: dict[str, list[str]] = {}
        rules: list[tuple[tuple[str, ...], str]] = []
        fallback = default_backend if kind == "frontend" else name
        for words, _n in lines:
            if words[0] == "acl" and len(words) > 2:
                acls.setdefault(words[1], []).extend(_host_values(words[2:]) or ())
            elif words[0] == "use_backend" and len(words) > 2:
                routed = _rule_names(words[2:], acls)
                if routed:
                    rules.append((routed, words[1]))
            elif words[0] == "default_backend" and len(words) > 1:
                fallback = words[1]
        for port in dict.fromkeys(ports):
            for routed, backend in rules:
                servers = _servers(backends.get(backend, []), port, local)
                out.append(WebRoot("", routed, port, upstream=servers))
            if fallback is not None:
                servers = _servers(backends.get(fallback, []), port, local)
                out.append(WebRoot("", (), port, default=True, upstream=servers))
    return tuple(out)
