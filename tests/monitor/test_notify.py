"""Notifiers against a real SMTP server and a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme

from certmgr.errors import NotifyError
from certmgr.models import Severity
from certmgr.monitor.notify import (
    Delivery,
    EmailNotifier,
    EventKind,
    Notice,
    NoticeBoard,
    NoticeState,
    Problem,
    WebhookNotifier,
    build_notifiers,
    send_test,
)
from certmgr.monitor.notify_worker import NoticeWorker
from certmgr.monitor.settings import EmailChannel, MonitorSettings, WebhookChannel
from certmgr.monitor.state import StateFile
from certmgr.testing.notify_servers import MailServer, SlowDripServer, WebhookReceiver

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def mail(server_ctx: ssl.SSLContext) -> Iterator[MailServer]:
    with MailServer(server_ctx, users={"certmgr": PASSWORD}) as server:
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def notice(kind: EventKind = EventKind.EXPIRING, state: NoticeState = NoticeState.PROBLEM,
           subject: str = "definition www.example.com") -> Notice:
    problem = Problem(kind, subject, "www.example.com expires in 5 days", Severity.WARNING,
                      {"not_after": "2026-12-02T12:00:00+00:00"})
    return Notice(state, problem, T0, T0)


def email_channel(server: MailServer, ca_file: str | None, **changes: object) -> EmailChannel:
    values: dict[str, object] = {
        "name": "ops-mail", "host": "127.0.0.1", "port": server.port,
        "sender": "certmgr@example.com", "recipients": ("ops@example.com", "pki@example.com"),
        "username": "certmgr", "password": PASSWORD, "ca_file": ca_file, "timeout": 5.0}
    values.update(changes)
    return EmailChannel(**values)  # type: ignore[arg-type]


# -- email ------------------------------------------------------------------------


def test_email_goes_over_starttls_with_auth(mail: MailServer, ca_file: str) -> None:
    EmailNotifier(email_channel(mail, ca_file)).send(notice())
    [received] = mail.wait_for(1)
    assert received.tls and received.user == "certmgr"
    assert received.sender == "certmgr@example.com"
    assert received.recipients == ("ops@example.com", "pki@example.com")
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    assert msg["Subject"] == "[certmgr] WARNING expiring: definition www.example.com"
    assert msg["X-Certmgr-Event"] == "expiring definition www.example.com"
    body = msg.get_body()
    assert body is not None and "expires in 5 days" in body.get_content()


def test_email_over_implicit_tls(server_ctx: ssl.SSLContext, ca_file: str) -> None:
    with MailServer(server_ctx, users={"certmgr": PASSWORD}, implicit_tls=True) as server:
        EmailNotifier(email_channel(server, ca_file, security="tls")).send(notice())
        [received] = server.wait_for(1)
    assert received.tls and received.user == "certmgr"


def test_wrong_password_is_reported_without_the_password(mail: MailServer,
                                                          ca_file: str) -> None:
    secret = "wrong-pass-123"
    with pytest.raises(NotifyError) as err:
        EmailNotifier(email_channel(mail, ca_file, password=secret)).send(notice())
    assert "login as certmgr refused (535)" in err.value.message
    assert secret not in err.value.message and PASSWORD not in err.value.message
    # smtplib tries each offered mechanism (PLAIN, then LOGIN) before giving up.
    assert mail.failed_logins >= 1 and mail.messages == []


def test_untrusted_smtp_certificate_is_refused(mail: MailServer) -> None:
    # No ca_file: the system store does not know the test CA, so nothing is sent.
    with pytest.raises(NotifyError, match="server certificate not trusted"):
        EmailNotifier(email_channel(mail, None)).send(notice())
    assert mail.messages == []


def test_server_without_starttls_is_refused(ca_file: str) -> None:
    with MailServer(None) as plain, pytest.raises(NotifyError, match="does not offer STARTTLS"):
        EmailNotifier(email_channel(plain, ca_file, username=None, password=None)).send(notice())


def test_unreachable_smtp_server_is_a_notify_error(ca_file: str) -> None:
    with MailServer(None) as closed:
        port = closed.port
    channel = EmailChannel("m", "127.0.0.1", port, "a@example.com", ("b@example.com",),
                           timeout=2.0, ca_file=ca_file)
    with pytest.raises(NotifyError, match="connection refused"):
        EmailNotifier(channel).send(notice())


# -- webhooks -----------------------------------------------------------------------


def test_webhook_posts_the_notice_as_json(hook: WebhookReceiver) -> None:
    channel = WebhookChannel("chat", hook.url, headers=(("Authorization", "Bearer t0k"),))
    WebhookNotifier(channel).send(notice(EventKind.DRIFT, subject="endpoint lab1 198.18.0.2:443"))
    [post] = hook.wait_for(1)
    assert post["event"] == "drift" and post["state"] == "problem"
    assert post["subject"] == "endpoint lab1 198.18.0.2:443"
    assert post["severity"] == "warning" and post["source"] == "certmgr"
    assert post["detail"] == {"not_after": "2026-12-02T12:00:00+00:00"}
    assert hook.headers[0]["Authorization"] == "Bearer t0k"
    assert hook.headers[0]["Content-Type"] == "application/json"


def test_webhook_over_https_verifies_the_server(server_ctx: ssl.SSLContext, ca_file: str) -> None:
    with WebhookReceiver(server_ctx) as receiver:
        with pytest.raises(NotifyError, match="not trusted"):
            WebhookNotifier(WebhookChannel("h", receiver.url, timeout=5)).send(notice())
        WebhookNotifier(WebhookChannel("h", receiver.url, ca_file=ca_file)).send(notice())
        assert len(receiver.wait_for(1)) == 1


def test_webhook_error_status_hides_the_url_path(hook: WebhookReceiver) -> None:
    hook.status = 500
    with pytest.raises(NotifyError) as err:
        WebhookNotifier(WebhookChannel("chat", hook.url)).send(notice())
    assert "answered HTTP 500" in err.value.message
    assert "secret-token-path" not in err.value.message


# -- de-duplication ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def board_for(tmp_path: Path, *channels: WebhookReceiver) -> tuple[NoticeBoard, Clock]:
    clock = Clock()
    notifiers = [WebhookNotifier(WebhookChannel(f"hook{i}", r.url, timeout=5))
                 for i, r in enumerate(channels)]
    return NoticeBoard(notifiers, StateFile(tmp_path / "state.json"), timedelta(hours=24),
                       clock), clock


EXPIRING = Problem(EventKind.EXPIRING, "definition www", "www expires in 10 days",
                   Severity.WARNING)
DRIFT = Problem(EventKind.DRIFT, "endpoint lab1 198.18.0.2:443", "serves another certificate")


def test_one_notice_per_problem_per_period_then_resolved(tmp_path: Path,
                                                          hook: WebhookReceiver) -> None:
    board, clock = board_for(tmp_path, hook)
    assert [d.ok for d in board.update([EXPIRING, DRIFT])] == [True, True]
    clock.now += timedelta(hours=1)
    changed = Problem(EventKind.EXPIRING, "definition www", "www expires in 9 days")
    assert board.update([changed, DRIFT]) == []  # same problems, new wording: quiet
    clock.now += timedelta(hours=24)
    reminders = board.update([changed, DRIFT])
    assert {d.notice.state for d in reminders} == {NoticeState.REMINDER}
    clock.now += timedelta(hours=1)
    resolved = board.update([DRIFT])
    assert [(d.notice.state, d.notice.problem.kind) for d in resolved] == [
        (NoticeState.RESOLVED, EventKind.EXPIRING)]
    assert board.update([DRIFT]) == []
    assert [e[:2] for e in hook.events()] == [
        ("problem", "expiring"), ("problem", "drift"), ("reminder", "expiring"),
        ("reminder", "drift"), ("resolved", "expiring")]
    assert hook.posts[-1]["message"] == "www expires in 9 days"


def test_failed_channel_is_retried_alone(tmp_path: Path, hook: WebhookReceiver) -> None:
    with WebhookReceiver(status=503) as broken:
        board, clock = board_for(tmp_path, hook, broken)
        first = board.update([DRIFT])
        assert [(d.channel, d.ok) for d in first] == [("hook0", True), ("hook1", False)]
        assert first[1].error is not None and "HTTP 503" in first[1].error
        broken.status = 200
        clock.now += timedelta(minutes=5)
        again = board.update([DRIFT])
        assert [(d.channel, d.ok, d.notice.state) for d in again] == [
            ("hook1", True, NoticeState.PROBLEM)]
        assert len(broken.posts) == 1 and len(hook.posts) == 1


def test_expiring_turning_expired_is_not_resolved(tmp_path: Path, hook: WebhookReceiver) -> None:
    board, clock = board_for(tmp_path, hook)
    board.update([EXPIRING])
    clock.now += timedelta(days=10)
    expired = Problem(EventKind.EXPIRED, "definition www", "www expired")
    board.update([expired])
    board.update([])
    assert [e[:2] for e in hook.events()] == [
        ("problem", "expiring"), ("problem", "expired"), ("resolved", "expired")]


def test_kinds_outside_the_scope_are_not_resolved(tmp_path: Path, hook: WebhookReceiver) -> None:
    board, _ = board_for(tmp_path, hook)
    board.update([DRIFT, EXPIRING])
    assert board.update([], scope={EventKind.EXPIRING}) != []
    assert [e[0] for e in hook.events()] == ["problem", "problem", "resolved"]
    assert board.update([DRIFT]) == []  # the drift was remembered


def test_announcements_are_sent_once_without_memory(tmp_path: Path,
                                                    hook: WebhookReceiver) -> None:
    board, _ = board_for(tmp_path, hook)
    renewed = Problem(EventKind.RENEWED, "definition www", "www renewed: version 2",
                      Severity.INFO)
    [delivery] = board.announce([renewed])
    assert delivery.ok and delivery.notice.state is NoticeState.EVENT
    assert board.update([]) == []  # an event is not a problem: nothing to resolve
    assert [e[:2] for e in hook.events()] == [("event", "renewed")]


def test_state_survives_a_new_board(tmp_path: Path, hook: WebhookReceiver) -> None:
    board, _ = board_for(tmp_path, hook)
    board.update([DRIFT])
    again, _ = board_for(tmp_path, hook)
    assert again.update([DRIFT]) == []
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


def test_damaged_state_file_costs_only_a_repeat(tmp_path: Path, hook: WebhookReceiver) -> None:
    (tmp_path / "state.json").write_text("{not json")
    board, _ = board_for(tmp_path, hook)
    assert [d.ok for d in board.update([DRIFT])] == [True]


def test_send_test_reaches_every_channel(mail: MailServer, ca_file: str,
                                         hook: WebhookReceiver) -> None:
    settings = MonitorSettings(email=(email_channel(mail, ca_file),),
                               webhooks=(WebhookChannel("chat", hook.url),))
    deliveries = send_test(build_notifiers(settings))
    assert [(d.channel, d.ok) for d in deliveries] == [("ops-mail", True), ("chat", True)]
    assert hook.wait_for(1)[0]["state"] == "test"
    assert b"This is a test notice" in mail.wait_for(1)[0].data


def test_duplicate_channel_names_are_refused(hook: WebhookReceiver) -> None:
    settings = MonitorSettings(webhooks=(WebhookChannel("x", hook.url),
                                         WebhookChannel("x", hook.url)))
    with pytest.raises(NotifyError, match="two channels are named 'x'"):
        build_notifiers(settings)


# -- a total deadline per delivery; channels side by side (issue 14, item 3) ------------


def _timed(send: Callable[[], None], bound: float) -> tuple[float, BaseException | None]:
    """Run ``send`` on a thread; its duration and what it raised (it must end within ``bound``)."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            send()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            raised.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    t0 = time.monotonic()
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still sending after {bound}s: no total deadline"
    return time.monotonic() - t0, raised[0] if raised else None


def test_a_slow_drip_webhook_is_cut_off_at_its_timeout() -> None:
    with SlowDripServer(0.5) as slow:
        channel = WebhookChannel("slow", slow.url, timeout=1.5)
        took, raised = _timed(lambda: WebhookNotifier(channel).send(notice()), 8)
    assert isinstance(raised, NotifyError)
    assert "did not finish within 1.5s" in raised.message and 1.4 < took < 3
    assert "/hook/slow" not in raised.message


@pytest.mark.parametrize("security", ["none", "tls"])
def test_a_slow_drip_smtp_server_is_cut_off_at_its_timeout(security: str) -> None:
    with SlowDripServer(0.5, SlowDripServer.SMTP_DRIP) as slow:
        channel = EmailChannel("slow", "127.0.0.1", slow.port, "a@example.com",
                               ("b@example.com",), security=security, timeout=1.5)
        took, raised = _timed(lambda: EmailNotifier(channel).send(notice()), 8)
    assert isinstance(raised, NotifyError) and took < 3
    assert "did not finish within 1.5s" in raised.message or security == "tls"


def test_channels_are_told_side_by_side(hook: WebhookReceiver) -> None:
    with SlowDripServer(0.5) as one, SlowDripServer(0.5) as two:
        notifiers = [WebhookNotifier(WebhookChannel("one", one.url, timeout=1.5)),
                     WebhookNotifier(WebhookChannel("two", two.url, timeout=1.5)),
                     WebhookNotifier(WebhookChannel("fine", hook.url, timeout=1.5))]
        result: list[list[Delivery]] = []
        took, raised = _timed(lambda: result.append(send_test(notifiers)), 8)
    assert raised is None and took < 2.8  # not 1.5 + 1.5
    assert [(d.channel, d.ok) for d in result[0]] == [("one", False), ("two", False),
                                                     ("fine", True)]


def test_a_slow_channel_holds_up_neither_the_pass_nor_the_state_file(
        tmp_path: Path, hook: WebhookReceiver) -> None:
    state = StateFile(tmp_path / "state.json")
    with SlowDripServer(0.5) as slow:
        board = NoticeBoard([WebhookNotifier(WebhookChannel("slow", slow.url, timeout=2)),
                             WebhookNotifier(WebhookChannel("fine", hook.url, timeout=2))],
                            state, timedelta(hours=24))
        done: list[list[Delivery]] = []
        worker = NoticeWorker(board, done.append, lambda exc: done.append([]))
        t0 = time.monotonic()
        worker.submit([EXPIRING])
        assert time.monotonic() - t0 < 0.2  # handed over, not delivered
        assert hook.wait_for(1, timeout=5)  # the fast channel is told meanwhile
        with state.transaction() as doc:  # renewal's section is free while one is slow
            doc["renewal"] = {"www": {"ok": True}}
        assert time.monotonic() - t0 < 1.5 and not done
        assert worker.wait_idle(8)
        worker.close(5)
    [deliveries] = done
    assert sorted((d.channel, d.ok) for d in deliveries) == [("fine", True), ("slow", False)]
    book = state.read()["notices"][EXPIRING.key]["sent"]
    assert set(book) == {"fine"}  # the slow one is tried again next pass
    assert state.read()["renewal"] == {"www": {"ok": True}}


def test_a_newer_pass_replaces_the_waiting_one(tmp_path: Path, hook: WebhookReceiver) -> None:
    board = NoticeBoard([WebhookNotifier(WebhookChannel("fine", hook.url, timeout=2))],
                        StateFile(tmp_path / "state.json"), timedelta(hours=24))
    with SlowDripServer(0.5) as slow:
        blocker = NoticeBoard([WebhookNotifier(WebhookChannel("slow", slow.url, timeout=1))],
                              StateFile(tmp_path / "other.json"), timedelta(hours=24))
        worker = NoticeWorker(blocker, lambda d: None, lambda exc: None)
        worker.submit([EXPIRING])  # busy for a second
        time.sleep(0.2)
        worker.board = board
        for _ in range(50):
            worker.submit([DRIFT], [EXPIRING])
        assert worker.wait_idle(8)
        worker.close(5)
    posts = hook.wait_for(51, timeout=1)
    assert [p["state"] for p in posts].count("problem") == 1  # one waiting batch, not 50
    assert [p["state"] for p in posts].count("event") == 50
