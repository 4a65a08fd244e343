"""Tomcat 6 to 11: ``server.xml`` Connectors and ``<SSLHostConfig><Certificate>``.

Up to Tomcat 9 a Connector may carry ``keystoreFile``/``keystorePass``/
``keystoreType`` itself (removed in 10.1, which Debian 12 ships as tomcat10);
from 8.5 the ``<SSLHostConfig>``/``<Certificate>`` elements hold them.
Relative paths are relative to CATALINA_BASE (``/var/lib/tomcatN`` on Debian).
Tomcat reads keystores as its own user: ``tomcat`` on Debian 11+, ``tomcat6``
in the seed's Ubuntu, from the service unit or ``/etc/default/tomcatN``.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field, replace
from typing import ClassVar
from xml.parsers import expat

from certmgr.errors import ConfigError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.base import (
    DiscoveryContext,
    FindsConfigFile,
    Service,
    Setting,
    Slot,
    resolve_path,
    unique_ids,
)
from certmgr.programs.slapd.discovery import read_default_file
from certmgr.programs.tomcat.webroot import web_roots

__all__ = ["Element", "TomcatAdapter", "parse_xml"]

_CONNECTOR_KEYSTORE = ("keystoreFile", "keystorePass", "keystoreType", "keyAlias",
                       "SSLCertificateFile", "SSLCertificateKeyFile")
_DEFAULT_PASSWORD = "changeit"  # noqa: S105 - Tomcat's documented default, not a secret


@dataclass
class Element:
    """An XML element with the line it starts on."""

    tag: str
    attrib: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def iter(self, tag: str) -> list[Element]:
        out = [self] if self.tag == tag else []
        for child in self.children:
            out.extend(child.iter(tag))
        return out


def parse_xml(text: str, path: str) -> Element:
    """Parse ``text`` keeping line numbers; entity declarations are refused (no XXE, no bombs)."""
    parser = expat.ParserCreate()
    stack: list[Element] = []
    root: list[Element] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        element = Element(tag, attrib, parser.CurrentLineNumber)
        (stack[-1].children if stack else root).append(element)
        stack.append(element)

    def end(_tag: str) -> None:
        stack.pop()

    def data(text: str) -> None:
        if stack:
            stack[-1].text += text

    def entity(*_args: object) -> None:
        raise ConfigError(f"{path}:{parser.CurrentLineNumber}: XML entity declarations are "
                          "not accepted in server.xml", path=path, line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: not well-formed XML: "
                          f"{expat.ErrorString(exc.code)}", path=path, line=exc.lineno) from None
    if not root:
        raise ConfigError(f"{path}: no XML element", path=path, line=1)
    return root[0]


def _version(config: str) -> int | None:
    m = re.search(r"tomcat(\d+)", config)
    return int(m.group(1)) if m else None


class TomcatAdapter(FindsConfigFile):
    """Apache Tomcat as packaged by Debian/Ubuntu (tomcat6 ... tomcat10)."""

    name: ClassVar[str] = "tomcat"
    config_candidates: ClassVar[tuple[str, ...]] = (
        "/etc/tomcat11/server.xml", "/etc/tomcat10/server.xml", "/etc/tomcat9/server.xml",
        "/etc/tomcat8/server.xml", "/etc/tomcat7/server.xml", "/etc/tomcat6/server.xml",
        "/etc/tomcat/server.xml")

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        version = _version(config)
        package = posixpath.basename(posixpath.dirname(config))  # tomcat10
        defaults = read_default_file(ctx, f"/etc/default/{package}")
        user = self._user(ctx, package, version, defaults)
        base = defaults.get("CATALINA_BASE") or f"/var/lib/{package}"
        try:
            root = parse_xml(ctx.read_text(config), config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, user, (), group=user)
        slots: list[Slot] = []
        for connector in root.iter("Connector"):
            slots.extend(self._connector(ctx, config, base, package, version, connector))
        return Service(self.kind, config, user, tuple(unique_ids(slots)), group=user,
                       version=str(version) if version else None,
                       webroots=web_roots(root, _Paths(base, package).resolve))

    def _user(self, ctx: DiscoveryContext, package: str, version: int | None,
              defaults: dict[str, str]) -> str:
        for key in (f"{package.upper()}_USER", "TOMCAT_USER"):
            if defaults.get(key):
                return defaults[key]
        for unit in (f"/etc/systemd/system/{package}.service",
                     f"/lib/systemd/system/{package}.service",
                     f"/usr/lib/systemd/system/{package}.service"):
            try:
                text = ctx.try_read(unit)
            except ConfigError:
                continue
            m = re.search(r"^User=(\S+)", text or "", re.MULTILINE)
            if m:
                return m.group(1)
        return "tomcat" if version is None or version >= 9 else package

    def _connector(self, ctx: DiscoveryContext, config: str, base: str, package: str,
                   version: int | None, connector: Element) -> list[Slot]:
        attrs = connector.attrib
        port_text = attrs.get("port", "")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            return []
        port = int(port_text)
        address = attrs.get("address") or "*"
        host_configs = connector.iter("SSLHostConfig")
        legacy = [a for a in _CONNECTOR_KEYSTORE if a in attrs]
        if attrs.get("SSLEnabled", "false").lower() != "true" and not legacy:
            return []
        paths = _Paths(base, package)
        if legacy and (version or 0) >= 10:
            ctx.config_error(self.kind, f"{config}:{connector.line}: the Connector on port "
                             f"{port} sets {legacy[0]}, which Tomcat 10.1 no longer reads: move "
                             "it to <SSLHostConfig><Certificate>", path=config,
                             line=connector.line)
        out: list[Slot] = []
        if legacy and (version or 0) < 10 and not host_configs:
            out.append(self._legacy_slot(ctx, config, paths, connector, port, address))
        for hc in host_configs:
            host_name = hc.attrib.get("hostName", "_default_")
            ca = hc.attrib.get("caCertificateFile") or hc.attrib.get("truststoreFile")
            for cert in hc.iter("Certificate"):
                out.append(self._cert_slot(ctx, config, paths, cert, port, address, host_name,
                                           ca))
        return out

    def _legacy_slot(self, ctx: DiscoveryContext, config: str, paths: _Paths,
                     connector: Element, port: int, address: str) -> Slot:
        a = connector.attrib
        base = Slot(id=f"tomcat:{port}-rsa", config=config, line=connector.line,
                    names=(ctx.hostname(),), names_from="host",
                    endpoints=(Endpoint(address, port, TlsMode.DIRECT),))
        if "SSLCertificateFile" in a:  # the APR connector's OpenSSL-style files
            return replace(
                base, cert=paths.resolve(a["SSLCertificateFile"]),
                key=paths.resolve(a.get("SSLCertificateKeyFile", a["SSLCertificateFile"])),
                settings=_settings(config, connector, {"cert": "SSLCertificateFile",
                                                       "key": "SSLCertificateKeyFile"}),
                password=a.get("SSLPassword"))
        return replace(
            base, keystore=paths.resolve(a.get("keystoreFile", "${user.home}/.keystore")),
            keystore_type=a.get("keystoreType", "JKS").upper(),
            settings=_settings(config, connector, {"keystore": "keystoreFile"}),
            password=a.get("keystorePass", _DEFAULT_PASSWORD))

    def _cert_slot(self, ctx: DiscoveryContext, config: str, paths: _Paths, cert: Element,
                   port: int, address: str, host_name: str, ca: str | None) -> Slot:
        a = cert.attrib
        kind = (a.get("type") or "rsa").lower()
        kind = "rsa" if kind == "undefined" else kind
        named = host_name != "_default_"
        instance = f"{port}-{host_name}-{kind}" if named else f"{port}-{kind}"
        base = Slot(id=f"tomcat:{instance}", config=config, line=cert.line,
                    names=(host_name,) if named else (ctx.hostname(),),
                    names_from="config" if named else "host",
                    endpoints=(Endpoint(address, port, TlsMode.DIRECT,
                                        host_name if named else None),),
                    ca=paths.resolve(ca) if ca else None)
        if "certificateFile" in a:
            chain = a.get("certificateChainFile")
            return replace(
                base, cert=paths.resolve(a["certificateFile"]),
                key=paths.resolve(a.get("certificateKeyFile", a["certificateFile"])),
                chain=paths.resolve(chain) if chain else None,
                settings=_settings(config, cert, {"cert": "certificateFile",
                                                  "key": "certificateKeyFile",
                                                  "chain": "certificateChainFile"}),
                password=a.get("certificateKeyPassword"))
        return replace(
            base, keystore=paths.resolve(a.get("certificateKeystoreFile",
                                               "${user.home}/.keystore")),
            keystore_type=a.get("certificateKeystoreType", "JKS").upper(),
            settings=_settings(config, cert, {"keystore": "certificateKeystoreFile"}),
            password=a.get("certificateKeystorePassword", _DEFAULT_PASSWORD))


@dataclass(frozen=True)
class _Paths:
    base: str
    package: str

    def resolve(self, value: str) -> str:
        value = (value.replace("${catalina.base}", self.base)
                 .replace("${catalina.home}", f"/usr/share/{self.package}")
                 .replace("${user.home}", self.base))
        return resolve_path(self.base, value)


def _settings(config: str, element: Element, roles: dict[str, str]) -> dict[str, Setting]:
    return {role: Setting(config, element.line, attr) for role, attr in roles.items()
            if attr in element.attrib}


ADAPTER = TomcatAdapter()
