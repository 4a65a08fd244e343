"""Notifications: what is wrong, told once per period on every channel, and when it clears.

The monitor hands :class:`NoticeBoard` the complete list of current
:class:`Problem` values after each pass. The board compares it with what it
told before (kept in the monitor state file) and sends, per channel:

* ``problem``  the first time a problem is seen (or until that channel got it),
* ``reminder`` when it is still there a ``repeat`` period after the last notice,
* ``resolved`` once, when it is gone, to every channel that was told about it.

One-off events (a certificate was renewed and redeployed) go out once as
``event`` notices through :meth:`NoticeBoard.announce`.

A channel is a :class:`Notifier`: email over SMTP (:class:`EmailNotifier`:
STARTTLS or implicit TLS, AUTH, server certificate verified) or a JSON POST
(:class:`WebhookNotifier`). A failed delivery is a :class:`Delivery` with
``ok=False`` and is retried on the next pass; it never stops the monitor.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import Enum
from typing import Any, ClassVar, Protocol, runtime_checkable

from certmgr import __version__
from certmgr.errors import NotifyError
from certmgr.models import Problem as _Problem
from certmgr.models import Severity
from certmgr.monitor.settings import EmailChannel, MonitorSettings, WebhookChannel
from certmgr.monitor.state import StateFile

__all__ = [
    "Delivery",
    "EmailNotifier",
    "EventKind",
    "Notice",
    "NoticeBoard",
    "NoticeState",
    "Notifier",
    "Problem",
    "WebhookNotifier",
    "build_notifiers",
    "send_test",
]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventKind(str, Enum):
    """What a notice is about."""

    EXPIRING = "expiring"
    EXPIRED = "expired"
    DRIFT = "drift"
    PROBE_FAILED = "probe-failed"
    RENEWAL_FAILED = "renewal-failed"
    DEPLOY_FAILED = "deploy-failed"
    RENEWED = "renewed"
    TEST = "test"


class NoticeState(str, Enum):
    PROBLEM = "problem"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    EVENT = "event"  # something happened once (a renewal): no reminder, nothing to resolve
    TEST = "test"


#: The monitor's problems: the one :class:`certmgr.models.Problem`, with a notice kind.
Problem = _Problem[EventKind]


@dataclass(frozen=True)
class Notice:
    """A problem in one state, at one time, ready to be told."""

    state: NoticeState
    problem: Problem
    time: datetime
    since: datetime

    def title(self) -> str:
        label = {NoticeState.RESOLVED: "RESOLVED", NoticeState.TEST: "TEST"}.get(
            self.state, self.problem.severity.value.upper())
        return f"[certmgr] {label} {self.problem.kind.value}: {self.problem.subject}"

    def body(self) -> str:
        lines = [self.problem.message if self.state is not NoticeState.RESOLVED
                 else f"Cleared: {self.problem.message}", ""]
        lines.append(f"state:   {self.state.value}")
        lines.append(f"since:   {self.since.isoformat(timespec='seconds')}")
        lines.append(f"checked: {self.time.isoformat(timespec='seconds')}")
        lines.append(f"on:      {socket.gethostname()}")
        lines.extend(f"{k}: {v}" for k, v in sorted(self.problem.detail.items()))
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": "certmgr",
            "version": __version__,
            "monitor_host": socket.gethostname(),
            "state": self.state.value,
            "event": self.problem.kind.value,
            "severity": self.problem.severity.value,
            "subject": self.problem.subject,
            "key": self.problem.key,
            "message": self.problem.message,
            "since": self.since.isoformat(),
            "time": self.time.isoformat(),
            "detail": dict(self.problem.detail),
        }


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notice on one channel."""

    channel: str
    notice: Notice
    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "state": self.notice.state.value,
                "event": self.notice.problem.kind.value, "subject": self.notice.problem.subject,
                "ok": self.ok, "error": self.error}


@runtime_checkable
class Notifier(Protocol):
    """A notification channel.

    Attributes:
        name: the channel's name from the configuration (unique); the state
            file remembers per name what was sent.
    """

    name: str

    def send(self, notice: Notice) -> None:
        """Deliver one notice.

        Raises:
            NotifyError: it was not delivered; the message says where and why,
                never with the password or token.
        """
        ...


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    # Always verified: the notices name the fleet's weak spots; a token or password
    # must not go to whoever answers on the way.
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise NotifyError(f"CA file {ca_file}: cannot be loaded ({exc}); fix ca_file in "
                          "monitor.toml", path=ca_file) from None


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
        try:
            with self._connect(context) as client:
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
            raise NotifyError(f"{where}: {_reason(exc)}") from None

    def _connect(self, context: ssl.SSLContext | None) -> smtplib.SMTP:
        ch = self.channel
        if ch.security == "tls":
            return smtplib.SMTP_SSL(ch.host, ch.port, timeout=ch.timeout, context=context)
        return smtplib.SMTP(ch.host, ch.port, timeout=ch.timeout)

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


class WebhookNotifier:
    """A JSON POST of :meth:`Notice.to_json` to a URL; any 2xx answer is delivery."""

    kind: ClassVar[str] = "webhook"

    def __init__(self, channel: WebhookChannel) -> None:
        self.channel = channel
        self.name = channel.name

    def send(self, notice: Notice) -> None:
        ch = self.channel
        # The path of a webhook URL is often its secret: messages show scheme and host only.
        parts = urllib.parse.urlsplit(ch.url)
        where = f"webhook {ch.name} ({parts.scheme}://{parts.netloc})"
        # The scheme was checked to be http or https when the channel was configured.
        request = urllib.request.Request(  # noqa: S310
            ch.url, data=json.dumps(notice.to_json(), default=str).encode(), method="POST",
            headers={"Content-Type": "application/json",
                     "User-Agent": f"certmgr/{__version__}", **dict(ch.headers)})
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if parts.scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=_tls_context(ch.ca_file)))
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(request, timeout=ch.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                raise NotifyError(f"{where}: answered HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise NotifyError(f"{where}: {_reason(exc)}") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET and drop the notice: report it instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"server certificate not trusted ({exc.verify_message}); set ca_file"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def build_notifiers(settings: MonitorSettings) -> list[Notifier]:
    """One notifier per configured channel, email first, in file order."""
    notifiers: list[Notifier] = [EmailNotifier(ch) for ch in settings.email]
    notifiers.extend(WebhookNotifier(ch) for ch in settings.webhooks)
    names = [n.name for n in notifiers]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise NotifyError(f"{settings.source or 'monitor.toml'}: two channels are named "
                          f"{duplicates[0]!r}; give each [[notify.*]] a unique name")
    return notifiers


def _deliver(notifier: Notifier, notice: Notice) -> Delivery:
    try:
        notifier.send(notice)
    except NotifyError as exc:
        return Delivery(notifier.name, notice, ok=False, error=exc.message)
    return Delivery(notifier.name, notice, ok=True)


def send_test(notifiers: Sequence[Notifier], *, now: datetime | None = None) -> list[Delivery]:
    """Send a test notice on every channel; the state file is not touched."""
    time = now or utcnow()
    problem = Problem(EventKind.TEST, "notification test",
                      "This is a test notice from certmgr: this channel works.", Severity.INFO)
    notice = Notice(NoticeState.TEST, problem, time, time)
    return [_deliver(n, notice) for n in notifiers]


# A problem that turned into a worse one of the same subject is replaced, not "resolved".
_ESCALATES_TO = {EventKind.EXPIRING: EventKind.EXPIRED}


class NoticeBoard:
    """De-duplicates problems into notices, remembering what was told in the state file.

    Args:
        notifiers: the channels.
        state: the monitor state file (section ``notices``).
        repeat: how long an unresolved problem stays quiet after a notice.
        clock: the time source (tests pass their own).
    """

    SECTION: ClassVar[str] = "notices"

    def __init__(self, notifiers: Sequence[Notifier], state: StateFile, repeat: timedelta,
                 clock: Clock = utcnow) -> None:
        self.notifiers = list(notifiers)
        self.state = state
        self.repeat = repeat
        self.clock = clock

    def update(self, problems: Iterable[Problem], *,
               scope: Collection[EventKind] | None = None) -> list[Delivery]:
        """Tell what is new, due again or resolved; return every delivery attempted.

        Args:
            problems: every problem of the kinds in ``scope`` that exists now.
            scope: the kinds this pass looked at (default: all); a remembered
                problem of another kind is left alone rather than resolved.
        """
        now = self.clock()
        active = {p.key: p for p in problems}
        deliveries: list[Delivery] = []
        with self.state.transaction() as doc:
            book: dict[str, Any] = doc.setdefault(self.SECTION, {})
            for key, problem in active.items():
                entry = book.setdefault(key, _new_entry(problem, now))
                entry.update(message=problem.message, severity=problem.severity.value,
                             detail=_jsonable(problem.detail), last_seen=now.isoformat())
                deliveries.extend(self._tell(problem, entry, now))
            for key in sorted(set(book) - set(active)):
                gone = _problem_of(book[key])
                if gone is None:
                    del book[key]
                elif scope is None or gone.kind in scope:
                    deliveries.extend(self._resolve(key, gone, book, active, now))
        return deliveries

    def announce(self, events: Iterable[Problem]) -> list[Delivery]:
        """Tell one-off events (a certificate renewed) on every channel, without memory."""
        now = self.clock()
        return [_deliver(n, Notice(NoticeState.EVENT, event, now, now))
                for event in events for n in self.notifiers]

    def _tell(self, problem: Problem, entry: dict[str, Any], now: datetime) -> list[Delivery]:
        sent: dict[str, str | None] = entry.setdefault("sent", {})
        since = datetime.fromisoformat(entry["since"])
        out = []
        for notifier in self.notifiers:
            last = sent.get(notifier.name)
            if last is None:
                state = NoticeState.PROBLEM
            elif now - datetime.fromisoformat(last) >= self.repeat:
                state = NoticeState.REMINDER
            else:
                continue
            delivery = _deliver(notifier, Notice(state, problem, now, since))
            if delivery.ok:
                sent[notifier.name] = now.isoformat()
            out.append(delivery)
        return out

    def _resolve(self, key: str, problem: Problem, book: dict[str, Any],
                 active: Mapping[str, Problem], now: datetime) -> list[Delivery]:
        entry = book[key]
        worse = _ESCALATES_TO.get(problem.kind)
        if worse is not None and f"{worse.value} {problem.subject}" in active:
            del book[key]
            return []
        told = {name for name, at in entry.get("sent", {}).items() if at is not None}
        since = datetime.fromisoformat(entry["since"])
        out = []
        for notifier in self.notifiers:
            if notifier.name not in told:
                continue
            delivery = _deliver(notifier, Notice(NoticeState.RESOLVED, problem, now, since))
            if delivery.ok:
                told.discard(notifier.name)
            out.append(delivery)
        # Channels removed from the configuration can no longer be told.
        told &= {n.name for n in self.notifiers}
        if told:
            entry["sent"] = {name: entry["sent"][name] for name in told}
        else:
            del book[key]
        return out


def _new_entry(problem: Problem, now: datetime) -> dict[str, Any]:
    return {"kind": problem.kind.value, "subject": problem.subject, "since": now.isoformat(),
            "sent": {}}


def _problem_of(entry: Any) -> Problem | None:
    try:
        return Problem(EventKind(entry["kind"]), str(entry["subject"]), str(entry["message"]),
                       Severity(entry.get("severity", "error")), dict(entry.get("detail", {})))
    except (KeyError, ValueError, TypeError):
        return None  # a damaged or foreign entry: forget it


def _jsonable(detail: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(detail), default=str))  # type: ignore[no-any-return]
