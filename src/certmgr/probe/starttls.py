"""STARTTLS dialogues: the plaintext commands that make a server start TLS.

One coroutine per protocol, registered in :data:`DIALOGUES` by TLS mode. A
dialogue talks through a :class:`Channel` (the probe's connection), names
each step it waits on with :meth:`Channel.begin` (that restarts the step's
timeout and is what a TIMEOUT message names), and returns when the server
has agreed to start TLS. It raises :class:`ProbeFailure` with
STARTTLS_REFUSED when the server says no or goes away, and PROTOCOL_ERROR
when what it says is not the protocol at all.

A new STARTTLS protocol is one coroutine and one entry in :data:`DIALOGUES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from certmgr.models import TlsMode
from certmgr.probe.result import ProbeFailure, Reason

__all__ = ["DIALOGUES", "EHLO_NAME", "MAX_LDAP_MESSAGE", "MAX_REPLY_LINES", "Channel", "Dialogue"]

#: The name certmgr gives in EHLO: syntactically valid, never a real host.
EHLO_NAME = "certmgr-probe.invalid"
#: Most lines one reply may have (a slow-loris multi-line banner ends here).
MAX_REPLY_LINES = 200
#: Largest LDAP StartTLS response accepted (a real one is a few dozen bytes).
MAX_LDAP_MESSAGE = 16384


class Channel(Protocol):
    """The plaintext side of a probe connection, as dialogues see it."""

    def begin(self, step: str) -> None:
        """Start a step: restart its timeout; ``step`` names what is awaited."""
        ...

    async def readline(self) -> bytes:
        """One line, with its end. Raises ProbeFailure on a closed or reset connection."""
        ...

    async def readexactly(self, size: int) -> bytes:
        """Exactly ``size`` bytes. Raises ProbeFailure like :meth:`readline`."""
        ...

    def write(self, data: bytes) -> None:
        """Send bytes."""
        ...


Dialogue = Callable[[Channel], Awaitable[None]]


def _show(line: bytes) -> str:
    """A server's line, safe to print: printable ASCII, cut short."""
    text = line.decode("ascii", "replace").strip()
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text[:120] + ("..." if len(text) > 120 else "")


def _refused(proto: str, what: str, line: bytes) -> ProbeFailure:
    return ProbeFailure(Reason.STARTTLS_REFUSED, f"{proto} server {what}: {_show(line)!r}")


def _garbage(proto: str, step: str, line: bytes) -> ProbeFailure:
    return ProbeFailure(Reason.PROTOCOL_ERROR,
                        f"not a {proto} answer to {step}: {_show(line)!r}")


async def _numeric_reply(ch: Channel, proto: str, step: str) -> tuple[int, list[bytes]]:
    """An SMTP/FTP reply: ``NNN-text`` lines ending with ``NNN text``. Returns (code, lines)."""
    ch.begin(step)
    lines: list[bytes] = []
    while len(lines) < MAX_REPLY_LINES:
        line = await ch.readline()
        code = line[:3]
        if not code.isdigit() or line[3:4] not in (b" ", b"-", b"\r", b"\n"):
            if proto == "FTP" and lines:
                # FTP multi-line replies may carry free text lines between the first and last.
                lines.append(line)
                continue
            raise _garbage(proto, step, line)
        lines.append(line)
        if line[3:4] != b"-" and (not lines[:-1] or code == lines[0][:3]):
            return int(code), lines
    raise ProbeFailure(Reason.PROTOCOL_ERROR,
                       f"{proto} reply to {step} has more than {MAX_REPLY_LINES} lines")


async def smtp(ch: Channel) -> None:
    """SMTP (RFC 3207): greeting 220, EHLO, STARTTLS offered, STARTTLS -> 220."""
    code, lines = await _numeric_reply(ch, "SMTP", "the SMTP greeting")
    if code != 220:
        raise _refused("SMTP", "refused the session", lines[-1])
    ch.write(f"EHLO {EHLO_NAME}\r\n".encode())
    code, lines = await _numeric_reply(ch, "SMTP", "EHLO")
    if code != 250:
        raise _refused("SMTP", "refused EHLO", lines[-1])
    if not any(line[4:].strip().upper() == b"STARTTLS" for line in lines[1:]):
        raise ProbeFailure(Reason.STARTTLS_REFUSED,
                           "SMTP server does not offer STARTTLS in its EHLO reply")
    ch.write(b"STARTTLS\r\n")
    code, lines = await _numeric_reply(ch, "SMTP", "STARTTLS")
    if code != 220:
        raise _refused("SMTP", "refused STARTTLS", lines[-1])


async def ftp(ch: Channel) -> None:
    """FTP (RFC 4217): greeting 220, AUTH TLS -> 234."""
    code, lines = await _numeric_reply(ch, "FTP", "the FTP greeting")
    if code == 120:  # "service ready in nnn minutes": the real greeting follows
        code, lines = await _numeric_reply(ch, "FTP", "the FTP greeting")
    if code != 220:
        raise _refused("FTP", "refused the session", lines[-1])
    ch.write(b"AUTH TLS\r\n")
    code, lines = await _numeric_reply(ch, "FTP", "AUTH TLS")
    if code != 234:
        raise _refused("FTP", "refused AUTH TLS", lines[-1])


async def pop3(ch: Channel) -> None:
    """POP3 (RFC 2595): greeting +OK, STLS -> +OK."""
    ch.begin("the POP3 greeting")
    line = await ch.readline()
    if line.startswith(b"-ERR"):
        raise _refused("POP3", "refused the session", line)
    if not line.startswith(b"+OK"):
        raise _garbage("POP3", "the POP3 greeting", line)
    ch.write(b"STLS\r\n")
    ch.begin("STLS")
    line = await ch.readline()
    if line.startswith(b"-ERR"):
        raise _refused("POP3", "refused STLS", line)
    if not line.startswith(b"+OK"):
        raise _garbage("POP3", "STLS", line)


_IMAP_TAG = b"C1"


async def imap(ch: Channel) -> None:
    """IMAP (RFC 3501): greeting ``* OK``, ``C1 STARTTLS`` -> ``C1 OK``."""
    ch.begin("the IMAP greeting")
    line = await ch.readline()
    upper = line.upper()
    if upper.startswith((b"* BYE", b"* PREAUTH")):
        raise _refused("IMAP", "refused the session", line)
    if not upper.startswith(b"* OK"):
        raise _garbage("IMAP", "the IMAP greeting", line)
    ch.write(_IMAP_TAG + b" STARTTLS\r\n")
    ch.begin("STARTTLS")
    for _ in range(MAX_REPLY_LINES):
        line = await ch.readline()
        if line.startswith(b"* "):
            continue  # untagged data (capabilities, alerts) may come first
        word = line.upper().split(None, 2)
        if len(word) >= 2 and word[0] == _IMAP_TAG and word[1] == b"OK":
            return
        if len(word) >= 2 and word[0] == _IMAP_TAG and word[1] in (b"NO", b"BAD"):
            raise _refused("IMAP", "refused STARTTLS", line)
        raise _garbage("IMAP", "STARTTLS", line)
    raise ProbeFailure(Reason.PROTOCOL_ERROR,
                       f"IMAP reply to STARTTLS has more than {MAX_REPLY_LINES} lines")


async def ldap(ch: Channel) -> None:
    """LDAP (RFC 4511 4.14): StartTLS extended request -> extended response, resultCode 0."""
    # Imported here: pyasn1 costs every scan start-up time, and most scans have no LDAP.
    from certmgr.probe.starttls_ldap import STARTTLS_REQUEST, parse_extended_response

    ch.write(STARTTLS_REQUEST)
    ch.begin("the LDAP StartTLS response")
    head = await ch.readexactly(2)
    if head[0] != 0x30:
        raise _garbage("LDAP", "StartTLS", head)
    extra = b""
    length = head[1]
    if length & 0x80:
        size_len = length & 0x7F
        if not 0 < size_len <= 3:
            raise ProbeFailure(Reason.PROTOCOL_ERROR,
                               "LDAP answer to StartTLS has an indefinite or huge length")
        extra = await ch.readexactly(size_len)
        length = int.from_bytes(extra, "big")
    if length > MAX_LDAP_MESSAGE:
        raise ProbeFailure(Reason.PROTOCOL_ERROR,
                           f"LDAP answer to StartTLS is {length} bytes long, more than "
                           f"{MAX_LDAP_MESSAGE}")
    body = await ch.readexactly(length)
    code, message = parse_extended_response(head + extra + body)
    if code != 0:
        detail = f" ({message})" if message else ""
        raise ProbeFailure(Reason.STARTTLS_REFUSED,
                           f"LDAP server refused StartTLS: resultCode {code}{detail}")


#: TLS mode -> the dialogue that gets the server to start TLS.
DIALOGUES: dict[TlsMode, Dialogue] = {
    TlsMode.STARTTLS_SMTP: smtp,
    TlsMode.STARTTLS_POP3: pop3,
    TlsMode.STARTTLS_IMAP: imap,
    TlsMode.STARTTLS_FTP: ftp,
    TlsMode.STARTTLS_LDAP: ldap,
}
