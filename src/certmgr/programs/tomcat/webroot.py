"""Where Tomcat answers plain HTTP: the ROOT webapp of each ``<Host>`` behind a Connector
without TLS (ACME http-01 writes its tokens under it), as Tomcat picks the Host for a name.

A plain Connector (no ``SSLEnabled="true"``, no keystore attributes, not AJP) of a
``<Service>`` reaches that Service's ``<Engine>``. Each ``<Host name=... appBase=...>``
(``appBase`` default ``webapps``, relative to CATALINA_BASE) answers its name and its
``<Alias>`` names; the Engine's ``defaultHost`` answers every other name. The Host's
document root for ``/`` is the ROOT context: a ``<Context path="" docBase=...>`` inside
the Host (``docBase`` relative to ``appBase``), else ``APPBASE/ROOT``. Contexts in
``conf/Catalina/HOST/ROOT.xml`` files are not read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from certmgr.programs.base import WebRoot, resolve_path

if TYPE_CHECKING:
    from certmgr.programs.tomcat.discovery import Element

__all__ = ["web_roots"]

_LEGACY_TLS = ("keystoreFile", "SSLCertificateFile")


def _plain_ports(service: Element) -> list[int]:
    """Ports of the Service's Connectors answering HTTP without TLS."""
    ports: list[int] = []
    for connector in (c for c in service.children if c.tag == "Connector"):
        a = connector.attrib
        port = a.get("port", "")
        if (not port.isdigit() or not 0 < int(port) < 65536
                or a.get("SSLEnabled", "false").lower() == "true"
                or any(k in a for k in _LEGACY_TLS) or connector.iter("SSLHostConfig")
                or "ajp" in a.get("protocol", "").lower()):
            continue
        ports.append(int(port))
    return list(dict.fromkeys(ports))


def _root(host: Element, app_base: str) -> str:
    for context in (c for c in host.children if c.tag == "Context"):
        if context.attrib.get("path", "") in ("", "/") and context.attrib.get("docBase"):
            return resolve_path(app_base, context.attrib["docBase"]).rstrip("/") or "/"
    return resolve_path(app_base, "ROOT")


def web_roots(server: Element, resolve: Callable[[str], str]) -> tuple[WebRoot, ...]:
    """One :class:`WebRoot` per (Host, plain port); the Engine's ``defaultHost`` is the
    port's default. ``resolve`` makes a path absolute against CATALINA_BASE (expanding
    ``${catalina.base}``)."""
    out: list[WebRoot] = []
    for service in server.iter("Service"):
        ports = _plain_ports(service)
        for engine in (e for e in service.children if e.tag == "Engine"):
            default = engine.attrib.get("defaultHost", "localhost").lower()
            for host in (h for h in engine.children if h.tag == "Host"):
                name = host.attrib.get("name", "")
                app_base = resolve(host.attrib.get("appBase") or "webapps")
                names = tuple(n for n in (name, *(a.text.strip() for a in host.children
                                                  if a.tag == "Alias")) if n)
                root = _root(host, app_base)
                out.extend(WebRoot(root, names, port, name.lower() == default)
                           for port in ports)
    return tuple(out)
