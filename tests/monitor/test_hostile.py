"""Hostile servers: every misbehaviour ends as a result with a reason, within its timeout.

Silent servers, slow-loris banners, garbage, wrong STARTTLS answers, resets,
stalls and a 100-certificate chain. A hang would be caught by pytest-timeout;
the assertions check the reason and that the message names the step.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from certmgr.models import TlsMode
from certmgr.probe.result import Reason
from certmgr.probe.targets import Target
from tests.monitor import servers
from tests.monitor.conftest import Pki, probe

SHORT = 0.4  # seconds per step: hostile servers are given little patience

Factory = Callable[[Pki], servers.Handler]


def _const(handler: servers.Handler) -> Factory:
    return lambda _pki: handler


CASES: list[tuple[str, Factory, TlsMode, Reason, str]] = [
    ("silent-tls", _const(servers.silent), TlsMode.DIRECT, Reason.TIMEOUT, "TLS handshake"),
    ("silent-smtp", _const(servers.silent), TlsMode.STARTTLS_SMTP, Reason.TIMEOUT,
     "SMTP greeting"),
    ("silent-ldap", _const(servers.silent), TlsMode.STARTTLS_LDAP, Reason.TIMEOUT,
     "StartTLS response"),
    ("slow-loris-smtp", _const(servers.slow_loris), TlsMode.STARTTLS_SMTP, Reason.TIMEOUT,
     "SMTP greeting"),
    ("slow-loris-ftp", _const(servers.slow_loris), TlsMode.STARTTLS_FTP, Reason.TIMEOUT,
     "FTP greeting"),
    ("endless-banner-smtp", _const(servers.endless_banner), TlsMode.STARTTLS_SMTP,
     Reason.PROTOCOL_ERROR, "more than 200 lines"),
    ("endless-banner-ftp", _const(servers.endless_banner), TlsMode.STARTTLS_FTP,
     Reason.PROTOCOL_ERROR, "more than 200 lines"),
    ("garbage-smtp", _const(servers.garbage), TlsMode.STARTTLS_SMTP, Reason.PROTOCOL_ERROR,
     "longer than"),
    ("garbage-imap", _const(servers.garbage), TlsMode.STARTTLS_IMAP, Reason.PROTOCOL_ERROR,
     "longer than"),
    ("garbage-ldap", _const(servers.garbage), TlsMode.STARTTLS_LDAP, Reason.PROTOCOL_ERROR,
     "LDAP"),
    ("garbage-tls", _const(servers.garbage), TlsMode.DIRECT, Reason.HANDSHAKE_FAILED,
     "handshake"),
    ("http-on-smtp", _const(servers.garbage_lines), TlsMode.STARTTLS_SMTP,
     Reason.PROTOCOL_ERROR, "not a SMTP answer"),
    ("http-on-pop3", _const(servers.garbage_lines), TlsMode.STARTTLS_POP3,
     Reason.PROTOCOL_ERROR, "not a POP3 answer"),
    ("http-on-imap", _const(servers.garbage_lines), TlsMode.STARTTLS_IMAP,
     Reason.PROTOCOL_ERROR, "not a IMAP answer"),
    ("http-on-ftp", _const(servers.garbage_lines), TlsMode.STARTTLS_FTP,
     Reason.PROTOCOL_ERROR, "not a FTP answer"),
    ("http-on-ldap", _const(servers.garbage_lines), TlsMode.STARTTLS_LDAP,
     Reason.PROTOCOL_ERROR, "not a LDAP answer"),
    ("smtp-454", lambda p: servers.smtp(p.ctx, starttls_reply=b"454 4.7.0 TLS not available "
                                        b"due to local problem\r\n"),
     TlsMode.STARTTLS_SMTP, Reason.STARTTLS_REFUSED, "454 4.7.0"),
    ("smtp-not-offered", lambda p: servers.smtp(p.ctx, offer=False), TlsMode.STARTTLS_SMTP,
     Reason.STARTTLS_REFUSED, "does not offer STARTTLS"),
    ("smtp-554-banner", lambda p: servers.smtp(p.ctx, banner=b"554 go away\r\n"),
     TlsMode.STARTTLS_SMTP, Reason.STARTTLS_REFUSED, "554 go away"),
    ("pop3-err", lambda p: servers.pop3(p.ctx, stls_reply=b"-ERR no TLS here\r\n"),
     TlsMode.STARTTLS_POP3, Reason.STARTTLS_REFUSED, "-ERR no TLS here"),
    ("imap-no", lambda p: servers.imap(p.ctx, answer=b"NO not now"), TlsMode.STARTTLS_IMAP,
     Reason.STARTTLS_REFUSED, "NO not now"),
    ("imap-bad", lambda p: servers.imap(p.ctx, answer=b"BAD unknown command"),
     TlsMode.STARTTLS_IMAP, Reason.STARTTLS_REFUSED, "BAD unknown command"),
    ("ftp-530", lambda p: servers.ftp(p.ctx, auth_reply=b"530 Please login first.\r\n"),
     TlsMode.STARTTLS_FTP, Reason.STARTTLS_REFUSED, "530 Please login"),
    ("ldap-protocol-error", lambda p: servers.ldap(
        p.ctx, response=servers.ldap_response(2, b"unsupported extended operation")),
     TlsMode.STARTTLS_LDAP, Reason.STARTTLS_REFUSED,
     "resultCode 2 (unsupported extended operation)"),
    ("ldap-disconnect-notice", lambda p: servers.ldap(
        p.ctx, response=servers.ldap_response(52, b"shutting down", message_id=0)),
     TlsMode.STARTTLS_LDAP, Reason.STARTTLS_REFUSED, "resultCode 52"),
    ("ldap-bad-ber", lambda p: servers.ldap(p.ctx, response=b"\x30\x03\x02\x01\xff"),
     TlsMode.STARTTLS_LDAP, Reason.PROTOCOL_ERROR, "LDAP"),
    ("ldap-huge-length", lambda p: servers.ldap(p.ctx, response=b"\x30\x84\x7f\xff\xff\xff"),
     TlsMode.STARTTLS_LDAP, Reason.PROTOCOL_ERROR, "length"),
    ("starttls-then-stall", _const(servers.starttls_then_stall), TlsMode.STARTTLS_SMTP,
     Reason.TIMEOUT, "TLS handshake"),
    ("close-in-handshake", _const(servers.close_after_client_hello), TlsMode.DIRECT,
     Reason.HANDSHAKE_FAILED, "closed the connection during the TLS handshake"),
    ("close-before-greeting", _const(servers.close_at_once), TlsMode.STARTTLS_IMAP,
     Reason.STARTTLS_REFUSED, "closed the connection while we waited for the IMAP greeting"),
]


@pytest.mark.parametrize(("name", "factory", "mode", "reason", "text"), CASES,
                         ids=[c[0] for c in CASES])
def test_hostile_server_gives_a_reason(
        name: str, factory: Factory, mode: TlsMode, reason: Reason, text: str,
        server_thread: servers.ServerThread, pki: Pki) -> None:
    port = server_thread.serve(factory(pki))
    result = probe(Target("127.0.0.1", port, mode), timeout=SHORT)
    assert not result.ok
    assert result.reason is reason, result.error
    assert result.error is not None and text in result.error
    assert result.chain == () and result.tls_version is None


@pytest.mark.parametrize("mode", [TlsMode.DIRECT, TlsMode.STARTTLS_SMTP])
def test_reset_is_connection_reset(mode: TlsMode, server_thread: servers.ServerThread) -> None:
    handler = servers.reset_at_once if mode is TlsMode.DIRECT else servers.reset_before_reading
    port = server_thread.serve_raw(handler)
    result = probe(Target("127.0.0.1", port, mode), timeout=SHORT)
    assert result.reason is Reason.CONNECTION_RESET, result.error
    assert result.error and "reset" in result.error


def test_chain_of_100_certificates_is_captured(huge_chain_port: int) -> None:
    result = probe(Target("127.0.0.1", huge_chain_port), timeout=5)
    assert result.ok, result.error
    assert len(result.chain) == 100


def test_server_that_never_accepts_times_out_connecting() -> None:
    # A listening socket whose backlog is full and never accepted: SYNs go unanswered
    # on Linux once the queue overflows, which is the closest loopback gets to a black hole.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        result = probe(Target("127.0.0.1", port), timeout=SHORT)
        assert result.reason is Reason.TIMEOUT, result.error
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_anonymous_tls_without_certificate_is_handshake_failed(
        server_thread: servers.ServerThread) -> None:
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("aNULL:@SECLEVEL=0")  # anonymous ECDH only: no certificate at all
    port = server_thread.serve(servers.direct(ctx), tls=ctx)
    result = probe(Target("127.0.0.1", port), timeout=SHORT)
    assert result.reason is Reason.HANDSHAKE_FAILED, result.error
    assert result.chain == ()


def test_a_server_just_in_time_at_every_step_meets_the_total_deadline(
        server_thread: servers.ServerThread, pki: Pki) -> None:
    import asyncio

    from certmgr.probe.prober import ProbeOptions, Prober, run_async

    pause = 0.4  # under each step's 0.5 s, over the probe's 1 s in all

    async def just_in_time(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(pause)
        writer.write(b"220 mx.example.com ESMTP slow\r\n")
        await reader.readline()
        await asyncio.sleep(pause)
        writer.write(b"250-mx.example.com\r\n250 STARTTLS\r\n")
        await reader.readline()
        await asyncio.sleep(pause)
        writer.write(b"220 go ahead\r\n")
        await writer.start_tls(pki.ctx)
        await reader.read()

    port = server_thread.serve(just_in_time)
    target = Target("127.0.0.1", port, TlsMode.STARTTLS_SMTP)
    result = run_async(Prober(ProbeOptions(timeout=0.5, deadline=1)).probe(target))
    assert result.reason is Reason.TIMEOUT, result.error
    assert result.error is not None and "more than 1s in all" in result.error
    patient = run_async(Prober(ProbeOptions(timeout=0.5, deadline=10)).probe(target))
    assert patient.ok, patient.error
    assert ProbeOptions(timeout=2).total == 6  # the default: three steps' worth
