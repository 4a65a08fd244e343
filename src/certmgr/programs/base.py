"""What discovery finds, and the protocol every service adapter follows.

A :class:`Service` is one server program instance on a host; a :class:`Slot`
is one TLS credential it reads. Adapters (each program's ``discovery``
module in :mod:`certmgr.programs`, listed in :mod:`certmgr.programs.registry`)
read a host's configuration through the host seam and return these values;
they never write. A configuration they cannot read is recorded in the
:class:`DiscoveryContext` as a ``CONFIG_ERROR`` finding with file and line, and
discovery goes on with the rest.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from certmgr.errors import ConfigError, HostError
from certmgr.hosts.base import Host
from certmgr.models import Endpoint, Finding, Severity

if TYPE_CHECKING:
    from certmgr.programs.registry import ServiceKind

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_INCLUDE_DEPTH",
    "DiscoveryContext",
    "FindsConfigFile",
    "NameSource",
    "Service",
    "ServiceAdapter",
    "Setting",
    "Slot",
    "WebRoot",
    "web_root_for",
]

# A real configuration file is a few kB; anything larger than this is not one,
# and reading it whole could exhaust memory (the 100 MB "config" of the tests).
MAX_CONFIG_BYTES = 4 * 1024 * 1024
# Include nesting deeper than this is a cycle the realpath check missed or a mistake.
MAX_INCLUDE_DEPTH = 16
# Reading more files than this for one program means a runaway glob.
MAX_CONFIG_FILES = 20_000

NameSource = Literal["config", "operator", "host"]
"""Where a slot's names come from: the program's config, an operator's definition,
or only the host's name (then a name mismatch is a warning, not an error)."""


@dataclass(frozen=True)
class Setting:
    """Where one setting of a slot is written: file, 1-based line, directive as written.

    ``index`` picks one value of a list-valued setting (the second file of
    Postfix's ``smtpd_tls_chain_files``); 0 for the others.
    """

    path: str
    line: int
    directive: str
    index: int = 0


@dataclass(frozen=True)
class Slot:
    """One TLS credential a service reads.

    ``id`` is stable and unique per host: ``KIND`` for a program's global
    credential, ``KIND:INSTANCE`` otherwise. Paths are as the program sees them,
    symlinks not resolved; a combined PEM file is both ``cert`` and ``key``.
    ``password`` is the password the program has for the key or keystore; it
    is never printed or stored by discovery. ``password_source`` says where the
    program gets a passphrase otherwise: ``exec:PROGRAM`` (Apache's
    SSLPassPhraseDialog) or ``file:PATH`` (nginx's ssl_password_file).
    ``also`` are the further places the same files are set, when one credential
    is written once per listener (a dual-stack pair of haproxy ``bind`` lines,
    two nginx ``server`` blocks): a change of path is made at each of them.
    """

    id: str
    config: str
    names: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    cert: str | None = None
    key: str | None = None
    chain: str | None = None
    ca: str | None = None
    keystore: str | None = None
    keystore_type: str | None = None
    names_from: NameSource = "config"
    line: int | None = None
    settings: dict[str, Setting] = field(default_factory=dict, compare=False, hash=False)
    password: str | None = field(default=None, repr=False, compare=False, hash=False)
    password_source: str | None = field(default=None, compare=False, hash=False)
    also: tuple[dict[str, Setting], ...] = field(default=(), compare=False, hash=False)

    def files(self) -> list[tuple[str, str]]:
        """(role, path) of every file the slot reads, each path once."""
        out: list[tuple[str, str]] = []
        for role in ("cert", "key", "chain", "ca", "keystore"):
            path = getattr(self, role)
            if path and all(p != path for _r, p in out):
                out.append((role, path))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "config": self.config,
            "names": list(self.names),
            "names_from": self.names_from,
            "endpoints": [e.to_json() for e in self.endpoints],
            "cert": self.cert,
            "key": self.key,
            "chain": self.chain,
            "ca": self.ca,
            "keystore": self.keystore,
            "keystore_type": self.keystore_type,
        }


@dataclass(frozen=True)
class WebRoot:
    """Where a web server answers plain HTTP for some names: the document root of the
    Apache vhost or nginx server on ``port`` (ACME http-01 puts its tokens under it).

    ``names`` empty: the server answers only as the default of its port; ``default``:
    it is the one that answers names no other server on the port claims.
    A proxy (haproxy) has an empty ``root``: it answers by forwarding to the local
    (address, port) servers in ``upstream`` (none: to other hosts), and the web root is
    that of the server behind it.
    """

    root: str
    names: tuple[str, ...] = ()
    port: int = 80
    default: bool = False
    upstream: tuple[tuple[str, int], ...] = ()


def _name_matches(pattern: str, name: str) -> bool:
    pattern, name = pattern.lower().rstrip("."), name.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and "." not in name[: -len(pattern) + 1]
    return pattern == name


def _answering(roots: Sequence[WebRoot], name: str, port: int) -> WebRoot | None:
    on_port = [r for r in roots if r.port == port]
    for exact in (True, False):
        for root in on_port:
            if any((n.lower().rstrip(".") == name.lower().rstrip(".")) if exact
                   else _name_matches(n, name) for n in root.names):
                return root
    return next((r for r in on_port if r.default), None)


def web_root_for(roots: Sequence[WebRoot], name: str, port: int = 80) -> WebRoot | None:
    """The web root that answers ``http://name:port/``, as the server picks it: the one
    naming it (exactly, then by a ``*.`` wildcard), else the port's default. A proxy's
    route is followed (once) to the first of its servers whose web root answers the name
    on that server's port; a proxy forwarding to no known web server answers None."""
    found = _answering(roots, name, port)
    if found is None or not found.upstream:
        return found if found is None or found.root else None
    servers = [r for r in roots if r.root]
    for _address, upstream_port in found.upstream:
        behind = _answering(servers, name, upstream_port)
        if behind is not None:
            return behind
    return None


@dataclass(frozen=True)
class Service:
    """One server program instance on a host and the TLS slots it reads.

    ``user`` reads the keys; ``group`` is the group a key is shared with when
    that user is not root (Table 1's ``root:openldap 0640``), else None.
    """

    kind: ServiceKind
    config: str
    user: str
    slots: tuple[Slot, ...]
    group: str | None = None
    version: str | None = None
    webroots: tuple[WebRoot, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "config": self.config,
            "user": self.user,
            "slots": [s.to_json() for s in self.slots],
        }


@dataclass
class DiscoveryContext:
    """Per-run state shared by the adapters: the host, findings, files read."""

    host: Host
    findings: list[Finding] = field(default_factory=list)
    files_read: int = 0
    _hostname: str | None = None

    # -- findings -------------------------------------------------------------

    def config_error(self, kind: ServiceKind | str, message: str, *, path: str | None,
                     line: int | None = None) -> None:
        """Record a CONFIG_ERROR finding; discovery continues with what it has."""
        service = str(kind.value) if isinstance(kind, Enum) else kind
        self.findings.append(Finding("CONFIG_ERROR", Severity.ERROR, message, service=service,
                                     path=path, line=line))

    def record(self, kind: ServiceKind, exc: ConfigError) -> None:
        self.config_error(kind, exc.message, path=exc.path, line=exc.line)

    # -- reading --------------------------------------------------------------

    def read_text(self, path: str, *, limit: int = MAX_CONFIG_BYTES) -> str:
        """A config file's text. Raises ConfigError if missing, unreadable, binary or huge."""
        self.files_read += 1
        if self.files_read > MAX_CONFIG_FILES:
            raise ConfigError(f"more than {MAX_CONFIG_FILES} configuration files read; "
                              "check the include globs", path=path)
        try:
            data = self.host.read_bytes(path, limit=limit + 1)
        except HostError as exc:
            raise ConfigError(f"cannot read {path}: {exc.message}", path=path) from None
        if len(data) > limit:
            raise ConfigError(f"{path} is larger than {limit // (1024 * 1024)} MiB: "
                              "not a configuration file", path=path)
        if b"\0" in data:
            line = data[: data.index(b"\0")].count(b"\n") + 1
            raise ConfigError(f"{path} is binary (NUL byte), not a configuration file",
                              path=path, line=line)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Latin-1 comments are common in old configs; decode them as such.
            if sum(1 for b in data if b < 9 or 13 < b < 32) > 0:
                line = data[: exc.start].count(b"\n") + 1
                raise ConfigError(f"{path} is not text (control bytes at line {line})",
                                  path=path, line=line) from None
            return data.decode("latin-1")

    def try_read(self, path: str) -> str | None:
        """The file's text, or None if it does not exist (other problems raise)."""
        if self.host.stat(path) is None:
            return None
        return self.read_text(path)

    def hostname(self) -> str:
        """The host's own name (``/etc/hostname``, else its address, else ``localhost``)."""
        if self._hostname is None:
            name = ""
            try:
                raw = self.host.read_bytes("/etc/hostname", limit=256)
                name = raw.decode("ascii", errors="ignore").strip().split()[0] if raw.strip() \
                    else ""
            except (HostError, IndexError):
                name = ""
            self._hostname = name or self.host.address or "localhost"
        return self._hostname


class IncludeGuard:
    """Include-cycle and depth protection for one program's configuration walk."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.stack: list[str] = []

    def enter(self, path: str, *, from_path: str | None, from_line: int | None) -> str:
        """Push ``path``; raises ConfigError (at the including line) on a cycle or depth.

        Cycles are found by path as written (resolving every include's symlinks
        costs too much on trees of thousands of files); a cycle through
        differently named symlinks still ends at the depth limit.
        """
        real = posixpath.normpath(path)
        if real in self.stack:
            raise ConfigError(f"include cycle: {path} includes itself through "
                              f"{' -> '.join(self.stack[self.stack.index(real):])}",
                              path=from_path or path, line=from_line)
        if len(self.stack) >= MAX_INCLUDE_DEPTH:
            raise ConfigError(f"includes nested deeper than {MAX_INCLUDE_DEPTH} at {path}",
                              path=from_path or path, line=from_line)
        self.stack.append(real)
        return real

    def leave(self) -> None:
        self.stack.pop()


def resolve_path(base_dir: str, path: str) -> str:
    """``path`` made absolute against ``base_dir`` (a program's ServerRoot, CATALINA_BASE...)."""
    if path.startswith("/"):
        return posixpath.normpath(path)
    return posixpath.normpath(posixpath.join(base_dir, path))


def _credential(slot: Slot) -> tuple[object, ...]:
    return (slot.id, slot.cert, slot.key, slot.chain, slot.ca, slot.keystore,
            slot.keystore_type, slot.names)


def merge_listeners(slots: list[Slot]) -> list[Slot]:
    """One slot per credential: slots of one id that read the same files are merged.

    A program configured once per listener (``bind :443`` and ``bind :::443
    v6only`` with the same ``crt``; ``listen 443`` and ``listen [::]:443`` in two
    nginx server blocks; two vhosts, one per address) serves one credential on
    all of them: one slot with every endpoint, in the order written, and every
    place its files are set (the first in ``settings``, the others in ``also``).
    """
    merged: dict[tuple[object, ...], int] = {}
    out: list[Slot] = []
    for slot in slots:
        at = merged.get(_credential(slot))
        if at is None:
            merged[_credential(slot)] = len(out)
            out.append(slot)
            continue
        first = out[at]
        endpoints = first.endpoints + tuple(e for e in slot.endpoints
                                            if e not in first.endpoints)
        places = {tuple(sorted((r, s.path, s.line) for r, s in d.items()))
                  for d in (first.settings, *first.also)}
        also = first.also
        for extra in (slot.settings, *slot.also):
            key = tuple(sorted((r, s.path, s.line) for r, s in extra.items()))
            if extra and key not in places:
                places.add(key)
                also = (*also, extra)
        out[at] = replace(first, endpoints=endpoints, also=also)
    return out


def unique_ids(slots: list[Slot]) -> list[Slot]:
    """Make slot ids unique: a repeated ``KIND:NAME`` gets ``:PORT``, then ``~N``.

    Slots that are one credential on several listeners are first merged
    (:func:`merge_listeners`): only different credentials under one name are
    told apart.
    """
    slots = merge_listeners(slots)
    counts: dict[str, int] = {}
    for slot in slots:
        counts[slot.id] = counts.get(slot.id, 0) + 1
    out: list[Slot] = []
    seen: set[str] = set()
    for slot in slots:
        new_id = slot.id
        if counts[slot.id] > 1 and slot.endpoints:
            new_id = f"{slot.id}:{slot.endpoints[0].port}"
        base, n = new_id, 2
        while new_id in seen:
            new_id = f"{base}~{n}"
            n += 1
        seen.add(new_id)
        out.append(replace(slot, id=new_id) if new_id != slot.id else slot)
    return out


@runtime_checkable
class ServiceAdapter(Protocol):
    """Reads one server program's configuration on a host.

    Each program's adapter is its spec's ``adapter`` (see :mod:`certmgr.programs`
    for what adding a program takes).

    Attributes:
        name: the ServiceKind value (``apache2``...).
        kind: the ServiceKind.
    """

    name: ClassVar[str]

    @property
    def kind(self) -> ServiceKind:
        """The program's kind (``ServiceKind(name)``)."""
        ...

    def detect(self, host: Host) -> str | None:
        """The program's main configuration file on ``host`` if it is there, else None."""
        ...

    def discover(self, ctx: DiscoveryContext, config: str) -> Service:
        """Read the program's configuration starting at ``config``.

        Args:
            ctx: the run's context (host, findings, capped reads).
            config: the main configuration file returned by :meth:`detect`.

        Returns:
            The service with every TLS slot found. Problems in the configuration
            are added to ``ctx.findings`` as CONFIG_ERROR; this never raises for
            a bad configuration.
        """
        ...


def kind_named(name: str) -> ServiceKind:
    """The :class:`ServiceKind` of a registered program name.

    The kinds are made from the registry, which imports every program: a
    program module asks here at run time, never at import time.
    """
    from certmgr.programs.registry import ServiceKind

    return ServiceKind(name)


class FindsConfigFile:
    """``detect`` for adapters: the first of the program's usual config files that exists.

    Each list is tried in order; the first existing file wins. Adding a
    distribution is adding paths to the adapter's ``config_candidates``, not a
    branch in it.
    """

    name: ClassVar[str]
    config_candidates: ClassVar[tuple[str, ...]]

    @property
    def kind(self) -> ServiceKind:
        return kind_named(self.name)

    def detect(self, host: Host) -> str | None:
        return next((p for p in self.config_candidates if host.exists(p)), None)
