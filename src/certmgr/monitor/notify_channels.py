"""The notification channels: email over SMTP and JSON webhooks, each delivery with a
total deadline.

A channel's ``timeout`` bounds its whole delivery (connect, TLS, every read and
write), not each read: a peer that drips one byte at a time is cut off when the
time is up (:class:`certmgr.deadline.Deadline`). What a channel says
about itself (errors, ``notify test``) names its host, never a password, token,
URL user information or URL path (:mod:`certmgr.redact`).
"""

from __future__ import annotations

import base64
import http.client
import json
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import unquote, urlsplit

from certmgr import __version__, redact
from certmgr.deadline import Deadline
from certmgr.errors import NotifyError
from certmgr.monitor.settings import EmailChannel, WebhookChannel

if TYPE_CHECKING:
    from certmgr.monitor.notify import Notice

__all__ = ["EmailNotifier", "WebhookNotifier", "WebhookTarget"]


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Always verified: the notices name the fleet's weak spots; a token or password
    # must not go to whoever answers on the way.
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NotifyError(f"CA file {ca_file}: cannot be loaded ({exc}); fix ca_file in "
                          "monitor.toml", path=ca_file) from None


def _within(where: str, timeout: float) -> Deadline:
    if not timeout > 0:
        raise NotifyError(f"{where}: timeout {timeout!r} must be a positive number of seconds; "
                          "fix it in monitor.toml")
    return Deadline(timeout)


class _DeadlineSMTP(smtplib.SMTP):
    """smtplib's client with its socket opened (and shut down in time) by a Deadline."""

    deadline: Deadline

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return self.deadline.connect((host, port), timeout, self.source_address)


class _DeadlineSMTPS(smtplib.SMTP_SSL, _DeadlineSMTP):
    """Implicit TLS: SMTP_SSL wraps the socket _DeadlineSMTP opened."""


class EmailNotifier:
    """Email over SMTP with STARTTLS (or implicit TLS) and AUTH, via smtplib."""

    kind: ClassVar[str] = "email"

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel
        self.name = channel.name

    def send(self, notice: Notice) -> None:
        ch = self.channel
        where = f"email channel {ch.name} ({ch.host}:{ch.port})"
        context = _tls_context(ch.ca_file) if ch.security != "none" else None
        deadline = _within(where, ch.timeout)
        try:
            with deadline, self._connect(context, deadline) as client:
                client.ehlo()
                if ch.security == "starttls":
                    if not client.has_extn("starttls"):
                        raise NotifyError(f"{where}: the server does not offer STARTTLS; "
                                          "set security = \"tls\" if it wants implicit TLS")
                    client.starttls(context=context)
                    client.ehlo()
                if ch.username and ch.password is not None:
                    client.login(ch.username, ch.password)
                client.send_message(self.message(notice))
        except smtplib.SMTPAuthenticationError as exc:
            raise NotifyError(f"{where}: login as {ch.username} refused ({exc.smtp_code}); "
                              "check username and password_file") from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            reply = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            raise NotifyError(f"{where}: server said {exc.smtp_code} {reply}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise NotifyError(f"{where}: {_reason(exc, deadline)}") from None

    def _connect(self, context: ssl.SSLContext | None, deadline: Deadline) -> smtplib.SMTP:
        ch = self.channel
        client: _DeadlineSMTP
        if ch.security == "tls":
            client = _DeadlineSMTPS(timeout=ch.timeout, context=context)
        else:
            client = _DeadlineSMTP(timeout=ch.timeout)
        client.deadline = deadline
        # The TLS server name (smtplib sets it in __init__ only when given a host there).
        client._host = ch.host  # type: ignore[attr-defined]
        code, message = client.connect(ch.host, ch.port)
        if code != 220:
            client.close()
            raise smtplib.SMTPConnectError(code, message)
        return client

    def message(self, notice: Notice) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = notice.title()
        msg["From"] = self.channel.sender
        msg["To"] = ", ".join(self.channel.recipients)
        msg["Date"] = format_datetime(notice.time)
        msg["Message-ID"] = make_msgid(domain=self.channel.sender.rpartition("@")[2] or None)
        msg["X-Certmgr-Event"] = notice.problem.key
        msg["X-Certmgr-State"] = notice.state.value
        msg.set_content(notice.body())
        return msg


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL taken apart: where to connect, what to ask for, how to log in.

    User information in the URL (``https://user:pass@host/...``) becomes HTTP Basic
    authentication; it is never part of the host name, and never shown.
    """

    scheme: str
    host: str
    port: int
    path: str
    authorization: str | None

    @classmethod
    def parse(cls, url: str) -> WebhookTarget:
        """Raises ValueError for a URL that is not http(s)://HOST[:PORT]/..."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url {redact.url(url)} must be http://HOST/... or https://HOST/...")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ValueError(f"url {redact.url(url)}: the port must be a number 1-65535"
                             ) from None
        auth = None
        if parts.username is not None or parts.password is not None:
            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, parts.hostname, port, path, auth)


class WebhookNotifier:
    """A JSON POST of :meth:`Notice.to_json` to a URL; any 2xx answer is delivery."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, channel: WebhookChannel) -> None:
        self.channel = channel
        self.name = channel.name

    def send(self, notice: Notice) -> None:
        ch = self.channel
        # The path of a webhook URL is often its secret: messages show scheme and host only.
        where = f"webhook {ch.name} ({redact.url(ch.url)})"
        try:
            target = WebhookTarget.parse(ch.url)
        except ValueError as exc:
            raise NotifyError(f"webhook {ch.name}: {exc}") from None
        headers = {"Content-Type": "application/json", "User-Agent": f"certmgr/{__version__}",
                   **dict(ch.headers)}
        if target.authorization and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = target.authorization
        body = json.dumps(notice.to_json(), default=str).encode()
        deadline = _within(where, ch.timeout)
        try:
            with deadline:
                status, reason = self._post(target, body, headers, deadline)
        except (http.client.HTTPException, OSError) as exc:
            raise NotifyError(f"{where}: {_reason(exc, deadline)}") from None
        if not 200 <= status < 300:
            # A redirect would turn the POST into a GET and drop the notice: reported too.
            raise NotifyError(f"{where}: answered HTTP {status} {reason}")

    def _post(self, target: WebhookTarget, body: bytes, headers: dict[str, str],
              deadline: Deadline) -> tuple[int, str]:
        ch = self.channel
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            conn = http.client.HTTPSConnection(target.host, target.port, timeout=ch.timeout,
                                               context=_tls_context(ch.ca_file))
        else:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=ch.timeout)
        # http.client opens its socket through this attribute: the deadline's connect
        # watches it (and the TLS layer HTTPSConnection wraps on top).
        conn._create_connection = deadline.connect  # type: ignore[attr-defined]
        try:
            conn.request("POST", target.path, body, headers)
            response = conn.getresponse()
            response.read(65536)
            return response.status, response.reason
        finally:
            conn.close()


def _reason(exc: BaseException, deadline: Deadline | None = None) -> str:
    if deadline is not None and deadline.expired:
        return f"did not finish within {deadline.seconds:g}s (the channel's timeout)"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"server certificate not trusted ({exc.verify_message}); set ca_file"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text: Any = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return redact.text(str(text))
