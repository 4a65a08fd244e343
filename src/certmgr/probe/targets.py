"""What ``certmgr scan`` probes: targets, and the syntax that names them.

A target is one TLS endpoint to probe: an address or name, a port, how TLS
starts there, and the SNI name to send. On the command line a target is
written ``HOST:PORT[/PROTO]`` where PROTO is ``tls`` (direct TLS) or a
STARTTLS protocol (``smtp``, ``pop3``, ``imap``, ``ftp``, ``ldap``). For
network discovery HOST may be a CIDR block and PORT a list of ports and
ranges: ``198.18.0.0/30:443,8443-8445``. IPv6 addresses and blocks go in
brackets: ``[::1]:443``, ``[2001:db8::/126]:443``.

Without ``/PROTO`` a well-known STARTTLS port (21, 25, 110, 143, 389, 587)
is probed with its protocol and every other port with direct TLS.

Expansion is lazy (:meth:`TargetSpec.expand`), so a scan of a large block
never holds every target in memory at once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from certmgr.errors import InputError, UsageError
from certmgr.inputs import SCAN_ENDPOINTS, control_characters, printable, read_user_file
from certmgr.models import Endpoint, TlsMode

__all__ = [
    "MAX_TARGETS",
    "WELL_KNOWN_STARTTLS",
    "Target",
    "TargetSpec",
    "expand_all",
    "parse_port_list",
    "parse_target",
    "parse_targets",
    "read_target_file",
]

#: Largest number of endpoints one scan may expand to (all its targets together): a /16
#: times 16 ports.
MAX_TARGETS = int(SCAN_ENDPOINTS.high)

#: Ports whose protocol starts TLS with a command, probed that way unless told otherwise.
WELL_KNOWN_STARTTLS: dict[int, TlsMode] = {
    21: TlsMode.STARTTLS_FTP,
    25: TlsMode.STARTTLS_SMTP,
    110: TlsMode.STARTTLS_POP3,
    143: TlsMode.STARTTLS_IMAP,
    389: TlsMode.STARTTLS_LDAP,
    587: TlsMode.STARTTLS_SMTP,
}

_PROTOCOLS = {"tls": TlsMode.DIRECT, "ssl": TlsMode.DIRECT, "direct": TlsMode.DIRECT,
              **{m.protocol: m for m in TlsMode if m.protocol is not None}}


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to probe.

    ``host`` is what to connect to (an IP address or a DNS name); ``sni`` is
    the server name sent in the handshake (None: none is sent, as for a bare
    IP address).
    """

    host: str
    port: int
    tls: TlsMode = TlsMode.DIRECT
    sni: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range 1-65535")

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        proto = self.tls.protocol
        return f"{host}:{self.port}" + (f"/{proto}" if proto else "")

    @classmethod
    def from_endpoint(cls, endpoint: Endpoint, address: str | None = None) -> Target:
        """The target for a repository endpoint; ``address`` replaces a wildcard listen address."""
        host = endpoint.address
        if host in ("*", "", "0.0.0.0", "::", "[::]"):  # noqa: S104 - a listen wildcard, not a bind
            host = address or "127.0.0.1"
        return cls(host.strip("[]"), endpoint.port, endpoint.tls, endpoint.sni)


@dataclass(frozen=True)
class TargetSpec:
    """One parsed TARGET argument: hosts (or a block) times ports, one TLS mode.

    ``tls`` None means "by port": the well-known STARTTLS ports get their
    protocol, every other port direct TLS.
    """

    text: str
    hosts: tuple[str, ...] | ipaddress.IPv4Network | ipaddress.IPv6Network
    ports: tuple[int, ...]
    tls: TlsMode | None
    sni: str | None = None

    def _host_count(self) -> int:
        if isinstance(self.hosts, tuple):
            return len(self.hosts)
        size = self.hosts.num_addresses
        # hosts() leaves out the network and broadcast addresses of IPv4 blocks larger than /31.
        if isinstance(self.hosts, ipaddress.IPv4Network) and self.hosts.prefixlen < 31:
            size -= 2
        return size

    def count(self) -> int:
        """How many targets :meth:`expand` yields."""
        return self._host_count() * len(self.ports)

    def _host_iter(self) -> Iterator[str]:
        if isinstance(self.hosts, tuple):
            yield from self.hosts
        else:
            for addr in self.hosts.hosts():
                yield str(addr)

    def expand(self) -> Iterator[Target]:
        """Every target of the spec, host by host, ports in the order given."""
        for host in self._host_iter():
            sni = self.sni if self.sni is not None else _default_sni(host)
            for port in self.ports:
                mode = self.tls if self.tls is not None else WELL_KNOWN_STARTTLS.get(
                    port, TlsMode.DIRECT)
                yield Target(host, port, mode, sni)


def _default_sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.rstrip(".").lower()
    return None


def parse_port_list(text: str, *, where: str) -> tuple[int, ...]:
    """``"443,8443-8445"`` -> (443, 8443, 8444, 8445); duplicates dropped, order kept."""
    ports: dict[int, None] = {}
    for part in text.split(","):
        part = part.strip()
        low, sep, high = part.partition("-")
        try:
            first = int(low)
            last = int(high) if sep else first
        except ValueError:
            raise UsageError(f"{where}: {part!r} is not a port or a port range "
                             "(write 443 or 8443-8445)") from None
        if not (0 < first <= last < 65536):
            raise UsageError(f"{where}: port range {part!r} is outside 1-65535 or reversed")
        for port in range(first, last + 1):
            ports[port] = None
    return tuple(ports)


def _split_proto(text: str) -> tuple[str, TlsMode | None]:
    head, sep, tail = text.rpartition("/")
    if sep and tail.isalnum() and not tail.isdigit():
        mode = _PROTOCOLS.get(tail.lower())
        if mode is None:
            names = ", ".join(sorted(_PROTOCOLS))
            raise UsageError(f"target {text!r}: unknown protocol {tail!r}; use one of {names}")
        return head, mode
    return text, None


def _split_host_ports(text: str, body: str) -> tuple[str, str]:
    if body.startswith("["):
        host, sep, rest = body[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise UsageError(f"target {text!r}: write an IPv6 target as [ADDRESS]:PORT")
        return host, rest[1:]
    host, sep, ports = body.rpartition(":")
    if not sep:
        raise UsageError(f"target {text!r}: give a port, as HOST:PORT (e.g. {body}:443)")
    if not host:
        raise UsageError(f"target {text!r}: give a host before the port, as HOST:PORT "
                         f"(e.g. localhost{body})")
    if ":" in host:
        raise UsageError(f"target {text!r}: put an IPv6 address in brackets: [ADDRESS]:PORT")
    return host, ports


def parse_target(text: str, *, sni: str | None = None) -> TargetSpec:
    """Parse one TARGET argument (see the module docstring). Raises UsageError."""
    text = text.strip()
    bad = control_characters(text)
    if bad:
        raise UsageError(f"target '{printable(text)}' contains control characters "
                         f"({', '.join(bad)}); remove them")
    body, mode = _split_proto(text)
    host, ports_text = _split_host_ports(text, body)
    ports = parse_port_list(ports_text, where=f"target {text!r}")
    hosts: tuple[str, ...] | ipaddress.IPv4Network | ipaddress.IPv6Network
    if "/" in host:
        try:
            hosts = ipaddress.ip_network(host, strict=False)
        except ValueError:
            raise UsageError(f"target {text!r}: {host!r} is not a network block "
                             "(write e.g. 198.18.0.0/30)") from None
    else:
        if not host or any(c.isspace() for c in host):
            raise UsageError(f"target {text!r}: {host!r} is not a host name or address")
        hosts = (host,)
    spec = TargetSpec(text, hosts, ports, mode, sni)
    if spec.count() > MAX_TARGETS:
        raise UsageError(f"target {text!r} expands to {spec.count():,} endpoints, more than "
                         f"{MAX_TARGETS:,}; scan a smaller block or fewer ports")
    return spec


def parse_targets(words: Iterable[str], *, sni: str | None = None) -> list[TargetSpec]:
    """Parse TARGET arguments (and ``--from`` lines) for one scan, refusing the scan
    before it starts when all of them together expand past :data:`MAX_TARGETS`.

    Raises:
        UsageError: a bad target, or too many endpoints in all.
    """
    specs: list[TargetSpec] = []
    total = 0
    for word in words:
        spec = parse_target(word, sni=sni)
        total += spec.count()
        if total > MAX_TARGETS:
            raise UsageError(f"the scan expands to more than {MAX_TARGETS:,} endpoints "
                             f"(reached at target {word!r}); scan smaller blocks, fewer "
                             "ports or fewer targets at a time")
        specs.append(spec)
    return specs


def read_target_file(path: Path) -> list[str]:
    """Target arguments from a file (``-`` not handled here): one per line, ``#`` comments."""
    try:
        text = read_user_file(path, name=f"--from {path}").decode("utf-8")
    except InputError as exc:
        raise UsageError(exc.message) from None
    except UnicodeDecodeError:
        raise UsageError(f"--from {path}: not a text file of targets") from None
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.extend(line.split())
    return out


def expand_all(specs: Iterable[TargetSpec]) -> Iterator[Target]:
    """Every target of every spec, in order."""
    for spec in specs:
        yield from spec.expand()
