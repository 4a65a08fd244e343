"""Where nginx answers plain HTTP: the ``root`` of each ``server`` listening without TLS
(ACME http-01 writes its tokens under it), as nginx picks the server for a name."""

from __future__ import annotations

from certmgr.programs.apache2.discovery import split_address
from certmgr.programs.base import WebRoot, resolve_path
from certmgr.programs.nginx.discovery import Statement

__all__ = ["web_roots"]

CHALLENGE_PREFIX = "/.well-known/acme-challenge"


def _plain_ports(server: Statement) -> list[tuple[int, bool]]:
    """(port, default_server) of each non-TLS ``listen`` (none at all: nginx's *:80)."""
    if any(s.args[:1] == ["on"] for s in server.find("ssl")):
        return []
    listens = server.find("listen")
    if not listens:
        return [(80, False)]
    out: list[tuple[int, bool]] = []
    for listen in listens:
        if not listen.args or listen.args[0].startswith("unix:") or "ssl" in listen.args[1:]:
            continue
        _address, port = split_address(listen.args[0])
        if port is None and listen.args[0].isdigit():
            port = int(listen.args[0])
        default = any(a in ("default_server", "default") for a in listen.args[1:])
        out.append((port or 80, default))
    return out


def _root(server: Statement, inherited: str | None, prefix: str) -> str | None:
    """The directory ``/.well-known/acme-challenge/`` is read from: a ``location`` for
    that path with its own ``root``, else the server's ``root``, else the http block's."""
    for location in server.find("location"):
        if location.args and location.args[-1].startswith(CHALLENGE_PREFIX):
            roots = location.find("root")
            if roots and roots[0].args:
                return resolve_path(prefix, roots[0].args[0]).rstrip("/") or "/"
    roots = server.find("root")
    value = roots[0].args[0] if roots and roots[0].args else inherited
    return (resolve_path(prefix, value).rstrip("/") or "/") if value else None


def web_roots(top: list[Statement], prefix: str) -> tuple[WebRoot, ...]:
    """One :class:`WebRoot` per (server, plain port); the port's default is the server
    marked ``default_server``, else the first."""
    found: list[WebRoot] = []
    for http in (s for s in top if s.directive == "http"):
        roots = http.find("root")
        inherited = roots[0].args[0] if roots and roots[0].args else None
        for server in http.find("server"):
            names = tuple(n for s in server.find("server_name") for n in s.args
                          if n and n != "_" and not n.startswith("~"))
            names = tuple(m for n in names
                          for m in ((n[1:], "*" + n) if n.startswith(".") else (n,)))
            path = _root(server, inherited, prefix)
            if path is None:
                continue
            for port, default in _plain_ports(server):
                found.append(WebRoot(path, names, port, default))
    out: list[WebRoot] = []
    for root in found:
        marked = any(r.default for r in found if r.port == root.port)
        first = next(r for r in found if r.port == root.port)
        out.append(WebRoot(root.root, root.names, root.port,
                           root.default if marked else root is first))
    return tuple(out)
