"""What one probe returns: a result with a reason, never an exception.

In batch work failures are data: a probe of a silent, hostile or broken
server ends as a :class:`ProbeResult` whose ``reason`` says what went wrong.
The reason codes double as the finding codes ``certmgr scan`` prints.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum

from certmgr.errors import ProbeError
from certmgr.probe.targets import Target

__all__ = ["ProbeFailure", "ProbeResult", "Reason"]


class Reason(str, Enum):
    """Why a probe did not complete. The values are finding codes."""

    TIMEOUT = "TIMEOUT"
    CONNECTION_REFUSED = "CONNECTION_REFUSED"
    CONNECTION_RESET = "CONNECTION_RESET"
    UNREACHABLE = "UNREACHABLE"
    STARTTLS_REFUSED = "STARTTLS_REFUSED"
    PROTOCOL_ERROR = "PROTOCOL_ERROR"
    HANDSHAKE_FAILED = "HANDSHAKE_FAILED"


class ProbeFailure(ProbeError):
    """A probe step failed for ``reason``; the engine turns it into a result.

    Raised by STARTTLS dialogues and the connection; it never leaves the engine.
    """

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one endpoint did when probed.

    Attributes:
        target: what was probed.
        ok: connected, STARTTLS accepted (if any), handshake completed, chain captured.
        chain: the certificates as presented, DER, the server's own first.
            Parsing them is left to the checks, off the network path.
        tls_version: e.g. ``TLSv1.3``; None when the handshake did not complete.
        cipher: the negotiated cipher suite's OpenSSL name.
        reason: why the probe failed (None when ``ok``).
        error: one line saying what happened, for humans (None when ``ok``).
        peer: the address connected to (a name resolves to it), if the connect succeeded.
        observed_at: Unix time the probe finished.
    """

    target: Target
    ok: bool
    chain: tuple[bytes, ...] = ()
    tls_version: str | None = None
    cipher: str | None = None
    reason: Reason | None = None
    error: str | None = None
    peer: str | None = None
    observed_at: float = field(default=0.0, compare=False)

    @property
    def leaf_sha256(self) -> str | None:
        """Hex SHA-256 of the served certificate, or None if no chain was captured."""
        return hashlib.sha256(self.chain[0]).hexdigest() if self.chain else None
