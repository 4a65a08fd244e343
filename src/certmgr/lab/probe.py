"""A small TLS probe for the lab: which certificate an endpoint serves, STARTTLS included.

The lab needs to know when a program is up (its handshake completes) and
which leaf it serves; it does not judge the certificate, so verification is
off. ``certmgr.probe`` does the real probing for users.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import time

from certmgr.errors import ProbeError
from certmgr.models import Endpoint, TlsMode

__all__ = ["served_sha256", "wait_served"]

# LDAPv3 ExtendedRequest for StartTLS (RFC 4511 4.14.1), message id 1.
_LDAP_STARTTLS = bytes.fromhex("301d02010177188016") + b"1.3.6.1.4.1.1466.20037"


class _Lines:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def line(self) -> str:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ProbeError("the server closed the connection before STARTTLS")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")

    def reply(self) -> str:
        """A complete SMTP/FTP reply (``250-...`` continuation lines up to ``250 ...``)."""
        while True:
            line = self.line()
            if len(line) < 4 or line[3] != "-":
                return line


def _expect(reply: str, ok: tuple[str, ...], what: str) -> None:
    if not reply.startswith(ok):
        raise ProbeError(f"{what} refused: {reply[:120]!r}")


def _starttls(sock: socket.socket, tls: TlsMode) -> None:
    if tls is TlsMode.DIRECT:
        return
    if tls is TlsMode.STARTTLS_LDAP:
        sock.sendall(_LDAP_STARTTLS)
        reply = sock.recv(4096)
        # ExtendedResponse (0x78) whose resultCode is success (ENUMERATED 0).
        if b"\x78" not in reply or b"\x0a\x01\x00" not in reply:
            raise ProbeError(f"LDAP StartTLS refused: {reply[:40].hex()}")
        return
    io = _Lines(sock)
    if tls is TlsMode.STARTTLS_SMTP:
        _expect(io.reply(), ("220",), "SMTP greeting")
        sock.sendall(b"EHLO certmgr-lab.example.com\r\n")
        _expect(io.reply(), ("250",), "EHLO")
        sock.sendall(b"STARTTLS\r\n")
        _expect(io.reply(), ("220",), "STARTTLS")
    elif tls is TlsMode.STARTTLS_FTP:
        _expect(io.reply(), ("220",), "FTP greeting")
        sock.sendall(b"AUTH TLS\r\n")
        _expect(io.reply(), ("234",), "AUTH TLS")
    elif tls is TlsMode.STARTTLS_POP3:
        _expect(io.line(), ("+OK",), "POP3 greeting")
        sock.sendall(b"STLS\r\n")
        _expect(io.line(), ("+OK",), "STLS")
    elif tls is TlsMode.STARTTLS_IMAP:
        _expect(io.line(), ("* OK",), "IMAP greeting")
        sock.sendall(b"a1 STARTTLS\r\n")
        while True:
            line = io.line()
            if line.startswith("a1 "):
                _expect(line, ("a1 OK",), "STARTTLS")
                break


def served_sha256(endpoint: Endpoint, *, timeout: float = 5.0) -> str:
    """Hex SHA-256 of the leaf certificate the endpoint serves, after a complete handshake.

    Raises:
        ProbeError: no connection, STARTTLS refused, or the handshake failed.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the lab only asks which certificate is served
    target = f"{endpoint.address}:{endpoint.port}"
    try:
        with socket.create_connection((endpoint.address, endpoint.port), timeout=timeout) as raw:
            _starttls(raw, endpoint.tls)
            with ctx.wrap_socket(raw, server_hostname=endpoint.sni) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"{target} ({endpoint.tls.value}): {exc}") from None
    except ProbeError as exc:
        raise ProbeError(f"{target}: {exc.message}") from None
    if not der:
        raise ProbeError(f"{target} sent no certificate")
    return hashlib.sha256(der).hexdigest()


def wait_served(endpoint: Endpoint, *, timeout: float) -> str:
    """Probe until the endpoint completes a handshake; its leaf's SHA-256.

    Raises:
        ProbeError: still failing after ``timeout`` seconds (the last error).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return served_sha256(endpoint, timeout=2.0)
        except ProbeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
