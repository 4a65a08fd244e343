"""vsftpd: ``vsftpd.conf`` ``key=value`` lines; one global TLS credential (slot ``vsftpd``)."""

from __future__ import annotations

import re
from typing import ClassVar

from certmgr.errors import ConfigError
from certmgr.models import Endpoint, TlsMode
from certmgr.programs.base import DiscoveryContext, FindsConfigFile, Service, Setting, Slot

__all__ = ["VsftpdAdapter", "parse_vsftpd"]

# vsftpd's compiled-in default certificate (and key, which defaults to the certificate).
DEFAULT_CERT = "/usr/share/ssl/certs/vsftpd.pem"
_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_vsftpd(text: str, path: str) -> dict[str, tuple[str, int]]:
    """option -> (value, line), read as vsftpd 3 reads it (vsftpd refuses the rest: so do we).

    A comment is a line whose first character is ``#`` (an indented ``#`` is
    refused); there are no continuation lines and no trailing comments (a ``#``
    after a value is part of it); blanks before the option name are skipped,
    none are allowed around ``=``; names are case-sensitive.
    """
    out: dict[str, tuple[str, int]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        m = _LINE.match(raw.lstrip(" \t"))
        if m is None:
            line = raw.strip()
            why = "an indented comment, which vsftpd refuses" if line.startswith("#") else \
                "not an option=value line"
            raise ConfigError(f"{path}:{number}: {why}: {line[:60]}", path=path, line=number)
        out[m.group(1)] = (m.group(2), number)
    return out


def _yes(options: dict[str, tuple[str, int]], name: str) -> bool:
    return options.get(name, ("NO", 0))[0].strip().upper() in ("YES", "TRUE", "1")


class VsftpdAdapter(FindsConfigFile):
    """vsftpd 2.x/3.x (explicit FTPS by AUTH TLS, or implicit with ``implicit_ssl``)."""

    name: ClassVar[str] = "vsftpd"
    config_candidates: ClassVar[tuple[str, ...]] = ("/etc/vsftpd.conf", "/etc/vsftpd/vsftpd.conf")

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        try:
            options = parse_vsftpd(ctx.read_text(config), config)
        except ConfigError as exc:
            ctx.record(self.kind, exc)
            return Service(self.kind, config, "root", ())
        slots: tuple[Slot, ...] = ()
        if _yes(options, "ssl_enable"):
            slots = (self._slot(ctx, config, options),)
        return Service(self.kind, config, "root", slots)

    def _slot(self, ctx: DiscoveryContext, config: str,
              options: dict[str, tuple[str, int]]) -> Slot:
        settings: dict[str, Setting] = {}
        for option, role in (("rsa_cert_file", "cert"), ("rsa_private_key_file", "key"),
                             ("ca_certs_file", "ca")):
            if option in options:
                settings[role] = Setting(config, options[option][1], option)
        cert = options.get("rsa_cert_file", (DEFAULT_CERT, 0))[0].strip()
        key = options.get("rsa_private_key_file", (cert, 0))[0].strip()
        ca = options.get("ca_certs_file", ("", 0))[0].strip() or None
        port_text = options.get("listen_port", ("21", 0))[0].strip()
        port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 21
        address = options.get("listen_address", ("", 0))[0].strip() or "*"
        mode = TlsMode.DIRECT if _yes(options, "implicit_ssl") else TlsMode.STARTTLS_FTP
        return Slot(id="vsftpd", config=config, names=(ctx.hostname(),), names_from="host",
                    endpoints=(Endpoint(address, port, mode),), cert=cert, key=key, ca=ca,
                    settings=settings)


ADAPTER = VsftpdAdapter()
