"""Values shared by every layer: frozen dataclasses and string enums.

These are the words certmgr's commands print and its JSON carries, so their
string values are part of the public interface (``tls``, ``severity``...).
Keep them stable. The program kinds (``slapd``...) are made from the
registry of programs: :class:`certmgr.programs.ServiceKind`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

__all__ = [
    "Endpoint",
    "FileSpec",
    "Finding",
    "Problem",
    "Severity",
    "TlsMode",
]


class TlsMode(str, Enum):
    """How TLS starts on an endpoint: at once, or after a protocol command."""

    DIRECT = "direct"
    STARTTLS_SMTP = "starttls-smtp"
    STARTTLS_POP3 = "starttls-pop3"
    STARTTLS_IMAP = "starttls-imap"
    STARTTLS_FTP = "starttls-ftp"
    STARTTLS_LDAP = "starttls-ldap"

    @property
    def protocol(self) -> str | None:
        """The STARTTLS protocol name (``smtp``...), or None for direct TLS."""
        if self is TlsMode.DIRECT:
            return None
        return str(self.value).removeprefix("starttls-")

    @classmethod
    def from_protocol(cls, protocol: str | None) -> TlsMode:
        """``None``/``"direct"``/``"tls"`` -> DIRECT, ``"smtp"`` -> STARTTLS_SMTP, ..."""
        if protocol in (None, "", "direct", "tls", "ssl"):
            return cls.DIRECT
        try:
            return cls(f"starttls-{protocol}")
        except ValueError:
            return cls(protocol)


@dataclass(frozen=True, order=True)
class Endpoint:
    """A place a service answers TLS: listen address, port, TLS mode, SNI name.

    ``address`` is the listen address as configured (``*`` for all); ``sni``
    is the name to send when probing, or None.
    """

    address: str
    port: int
    tls: TlsMode
    sni: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range 1-65535")
        if not isinstance(self.tls, TlsMode):
            object.__setattr__(self, "tls", TlsMode(self.tls))

    def to_json(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "tls": self.tls.value, "sni": self.sni}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        return cls(str(data["address"]), int(data["port"]), TlsMode(data["tls"]), data.get("sni"))


@dataclass(frozen=True)
class FileSpec:
    """A file as it must be on a host: path (as the program sees it), owner, group, mode."""

    path: str
    owner: str = "root"
    group: str = "root"
    mode: int = 0o644

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise ValueError(f"file path {self.path!r} must be absolute")
        if not 0 <= self.mode <= 0o7777:
            raise ValueError(f"mode {self.mode:o} is not a file mode")


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem found by ``check`` (on files) or ``scan`` (on the network).

    ``path`` is the file as the program sees it; for network findings
    ``target`` (``host:port[/proto]``) is set instead.
    """

    code: str
    severity: Severity
    message: str
    service: str | None = None
    slot: str | None = None
    path: str | None = None
    line: int | None = None
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity.value,
            "service": self.service,
            "slot": self.slot,
        }
        if self.target is not None:
            data["target"] = self.target
        else:
            data["path"] = self.path
        data["line"] = self.line
        data["message"] = self.message
        return data


K = TypeVar("K", bound=str)


@dataclass(frozen=True)
class Problem(Generic[K]):
    """Something an operator should look at, about one subject: what ``certmgr status``
    lists and what the monitor notifies (one type for both).

    ``kind`` says what is wrong: a code such as ``EXPIRED`` or ``DEPLOY_FAILED``
    (``Problem[str]``), or the monitor's notice kinds (``Problem[EventKind]``).
    Two problems with the same kind and subject are the same problem (their
    ``key``), whatever their message says this time (days left change daily).
    """

    kind: K
    subject: str
    message: str
    severity: Severity = Severity.ERROR
    detail: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def code(self) -> str:
        """The kind as text (an enum's value)."""
        return str(self.kind.value) if isinstance(self.kind, Enum) else str(self.kind)

    @property
    def key(self) -> str:
        return f"{self.code} {self.subject}"

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity.value, "code": self.code, "object": self.subject,
                "message": self.message}
