"""Real receivers for notification tests: an SMTP server and a webhook endpoint on loopback.

Both listen on ``127.0.0.1`` on a free port, run in a background thread, record
what they receive, and are context managers that stop them again. They speak
the real protocols (smtplib and urllib talk to them over TCP, TLS included), so
tests of the notifiers exercise the same code paths as production.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MailServer", "ReceivedMail", "SlowDripServer", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server accepted it."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    user: str | None
    tls: bool


def _wait(cond: threading.Condition, ready: Callable[[], bool], timeout: float) -> bool:
    with cond:
        return cond.wait_for(ready, timeout)


@dataclass
class _Session:
    tls: bool = False
    user: str | None = None
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)


class MailServer:
    """A small SMTP server: EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, QUIT.

    Args:
        context: server-side TLS context for STARTTLS (and implicit TLS); None: no TLS.
        users: accepted ``user -> password``; empty: AUTH is not offered.
        implicit_tls: TLS from the first byte (port-465 style) instead of STARTTLS.
        require_auth: refuse MAIL before a successful AUTH.
    """

    def __init__(self, context: ssl.SSLContext | None = None, *,
                 users: dict[str, str] | None = None, implicit_tls: bool = False,
                 require_auth: bool = True) -> None:
        self.context = context
        self.users = dict(users or {})
        self.implicit_tls = implicit_tls
        self.require_auth = require_auth and bool(self.users)
        self.messages: list[ReceivedMail] = []
        self.failed_logins = 0
        self._cond = threading.Condition()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 10

            def handle(self) -> None:
                with contextlib.suppress(OSError, ssl.SSLError):
                    owner._serve(self.request)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.host, self.port = "127.0.0.1", int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> MailServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages arrived (or the timeout passed); return them all."""
        _wait(self._cond, lambda: len(self.messages) >= count, timeout)
        return list(self.messages)

    # -- the protocol ------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        # Wrapping takes the connection over from the plain socket: close every wrapper.
        with contextlib.ExitStack() as stack:
            self._dialogue(sock, stack)

    def _dialogue(self, sock: socket.socket, stack: contextlib.ExitStack) -> None:
        session = _Session()
        if self.implicit_tls and self.context is not None:
            sock = stack.enter_context(self.context.wrap_socket(sock, server_side=True))
            session.tls = True
        reader = stack.enter_context(sock.makefile("rb"))
        self._reply(sock, "220 certmgr-test ESMTP ready")
        while True:
            line = reader.readline(4096)
            if not line:
                return
            verb, _, arg = line.decode("utf-8", "replace").strip().partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self._reply(sock, "221 bye")
                return
            if verb == "STARTTLS":
                if self.context is None or session.tls:
                    self._reply(sock, "454 TLS not available")
                    continue
                self._reply(sock, "220 go ahead")
                sock = stack.enter_context(self.context.wrap_socket(sock, server_side=True))
                reader = stack.enter_context(sock.makefile("rb"))
                session = _Session(tls=True)
                continue
            if verb == "AUTH":
                self._auth(sock, reader, session, arg)
                continue
            if verb == "DATA":
                self._data(sock, reader, session)
                continue
            self._reply(sock, self._simple(verb, arg, session))

    def _simple(self, verb: str, arg: str, session: _Session) -> str:
        if verb in ("EHLO", "HELO"):
            lines = ["250-certmgr-test"]
            if self.context is not None and not session.tls:
                lines.append("250-STARTTLS")
            if self.users and session.tls:
                lines.append("250-AUTH PLAIN LOGIN")
            lines.append("250 8BITMIME")
            return "\r\n".join(lines)
        if verb == "MAIL":
            if self.require_auth and session.user is None:
                return "530 5.7.0 authentication required"
            session.sender = arg.partition(":")[2].strip().split(" ")[0].strip("<>")
            session.recipients = []
            return "250 ok"
        if verb == "RCPT":
            if session.sender is None:
                return "503 MAIL first"
            session.recipients.append(arg.partition(":")[2].strip().strip("<>"))
            return "250 ok"
        if verb in ("RSET", "NOOP"):
            session.sender, session.recipients = None, []
            return "250 ok"
        return "502 command not implemented"

    def _auth(self, sock: socket.socket, reader: Any, session: _Session, arg: str) -> None:
        if not self.users or not session.tls:
            self._reply(sock, "538 5.7.11 encryption required for AUTH")
            return
        mechanism, _, initial = arg.partition(" ")
        try:
            if mechanism.upper() == "PLAIN":
                if not initial:
                    self._reply(sock, "334 ")
                    initial = reader.readline(4096).decode().strip()
                _, user, password = base64.b64decode(initial).decode().split("\0")
            elif mechanism.upper() == "LOGIN":
                self._reply(sock, "334 VXNlcm5hbWU6")
                user = base64.b64decode(reader.readline(4096).strip()).decode()
                self._reply(sock, "334 UGFzc3dvcmQ6")
                password = base64.b64decode(reader.readline(4096).strip()).decode()
            else:
                self._reply(sock, "504 mechanism not supported")
                return
        except (ValueError, binascii.Error):
            self._reply(sock, "501 malformed AUTH data")
            return
        if self.users.get(user) == password:
            session.user = user
            self._reply(sock, "235 2.7.0 authenticated")
        else:
            self.failed_logins += 1
            self._reply(sock, "535 5.7.8 authentication failed")

    def _data(self, sock: socket.socket, reader: Any, session: _Session) -> None:
        if session.sender is None or not session.recipients:
            self._reply(sock, "503 need MAIL and RCPT first")
            return
        self._reply(sock, "354 end with <CRLF>.<CRLF>")
        chunks = []
        while True:
            line = reader.readline(65536)
            if not line or line in (b".\r\n", b".\n"):
                break
            chunks.append(line[1:] if line.startswith(b"..") else line)
        mail = ReceivedMail(session.sender, tuple(session.recipients), b"".join(chunks),
                            session.user, session.tls)
        with self._cond:
            self.messages.append(mail)
            self._cond.notify_all()
        session.sender, session.recipients = None, []
        self._reply(sock, "250 queued")

    @staticmethod
    def _reply(sock: socket.socket, text: str) -> None:
        sock.sendall(text.encode() + b"\r\n")


class WebhookReceiver:
    """An HTTP(S) server that records JSON POST bodies and answers ``status``.

    Args:
        context: server-side TLS context for https; None: plain http.
        status: the HTTP status to answer (set ``receiver.status`` to change it later).
    """

    def __init__(self, context: ssl.SSLContext | None = None, *, status: int = 204) -> None:
        self.status = status
        self.posts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._cond = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = owner.status
                if 200 <= status < 300:
                    owner._record(json.loads(body), dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # tests read the records, not a log on stderr

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if context is not None:
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if context is not None else "http"
        self.port = int(self._server.server_address[1])
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook/secret-token-path"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _record(self, body: Any, headers: dict[str, str]) -> None:
        with self._cond:
            self.posts.append(body)
            self.headers.append(headers)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``count`` notices arrived (or the timeout passed); return them all."""
        _wait(self._cond, lambda: len(self.posts) >= count, timeout)
        return list(self.posts)

    def wait_until(self, ready: Callable[[list[dict[str, Any]]], bool],
                   timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until ``ready(posts)`` holds (or the timeout passed); return the posts."""
        _wait(self._cond, lambda: ready(list(self.posts)), timeout)
        return list(self.posts)

    def events(self) -> Iterator[tuple[str, str, str]]:
        """(state, event, subject) of every notice so far."""
        with self._cond:
            posts = list(self.posts)
        for post in posts:
            yield post["state"], post["event"], post["subject"]


class SlowDripServer:
    """A hostile peer: answers every connection one byte every ``interval`` seconds.

    Whatever the client says is read and ignored; the answer (an HTTP 200 header
    whose value never ends, or an SMTP greeting that never ends) is dripped, so a
    per-read timeout never fires and only a total deadline ends the exchange.
    ``url`` is a webhook URL on it; ``port`` serves SMTP clients as well.

    Args:
        interval: seconds between two bytes.
        answer: the bytes to drip (default: an endless HTTP header; use
            :data:`SMTP_DRIP` for an SMTP client).
    """

    HTTP_DRIP = b"HTTP/1.1 200 OK\r\nX-Drip: " + b"." * 100_000
    SMTP_DRIP = b"220-" + b"." * 100_000

    def __init__(self, interval: float = 0.5, answer: bytes = HTTP_DRIP) -> None:
        self.interval = interval
        self.answer = answer
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}/hook/slow"
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> SlowDripServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.setblocking(False)
            for byte in self.answer:
                with contextlib.suppress(OSError):  # nothing to read yet, or the client left
                    conn.recv(65536)  # the request, ignored
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return  # the client gave up: what a deadline is for
                if self._stop.wait(self.interval):
                    return
