"""Where Apache answers plain HTTP: the ``DocumentRoot`` of each vhost on a non-TLS port
(ACME http-01 writes its tokens under it), as Apache picks the vhost for a name."""

from __future__ import annotations

from certmgr.programs.apache2.discovery import ApacheWalker, Scope, split_address
from certmgr.programs.base import WebRoot, resolve_path

__all__ = ["web_roots"]


def _plain_ports(walker: ApacheWalker) -> list[int]:
    """Ports Apache listens on without TLS (``Listen 80``; a bare 443 is https)."""
    ports = [p for _a, p, proto in walker.listens
             if proto == "http" or (proto is None and p != 443)]
    return list(dict.fromkeys(ports))


def _names(scope: Scope) -> tuple[str, ...]:
    names: list[str] = []
    server_name = scope.last("ServerName")
    if server_name and server_name[0]:
        host = server_name[0][0].split("://")[-1]
        names.append(host.rsplit(":", 1)[0] if host.count(":") == 1 else host)
    for args, _p, _l in scope.directives.get("serveralias", []):
        names.extend(a for a in args if a not in names)
    return tuple(names)


def _root(walker: ApacheWalker, scope: Scope) -> str | None:
    entry = scope.last("DocumentRoot") or walker.main.last("DocumentRoot")
    if not entry or not entry[0]:
        return None
    return resolve_path(walker.server_root, entry[0][0]).rstrip("/") or "/"


def _tls(walker: ApacheWalker, scope: Scope) -> bool:
    engine = scope.last("SSLEngine")
    return bool(engine and engine[0] and engine[0][0].lower() == "on")


def web_roots(walker: ApacheWalker) -> tuple[WebRoot, ...]:
    """One :class:`WebRoot` per vhost answering plain HTTP (the first on a port is that
    port's default), and the main server's on a port no vhost takes."""
    out: list[WebRoot] = []
    for port in _plain_ports(walker):
        found = False
        for scope in walker.vhosts:
            ports = {split_address(a)[1] for a in scope.addresses}
            if (port not in ports and None not in ports) or _tls(walker, scope):
                continue
            root = _root(walker, scope)
            if root is not None:
                out.append(WebRoot(root, _names(scope), port, default=not found))
            found = True
        if not found and (root := _root(walker, walker.main)) is not None:
            out.append(WebRoot(root, _names(walker.main), port, default=True))
    return tuple(out)
