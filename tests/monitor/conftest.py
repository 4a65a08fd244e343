"""Fixtures for the probe and scan tests: a test CA and real servers on 127.0.0.1."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import trustme

from certmgr.models import TlsMode
from certmgr.probe.prober import ProbeOptions, Prober, run_async
from certmgr.probe.result import ProbeResult
from certmgr.probe.targets import Target
from tests.monitor import servers


@dataclass
class Pki:
    ca: trustme.CA
    leaf: trustme.LeafCert
    ctx: ssl.SSLContext


def _server_context(leaf: trustme.LeafCert, *, tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    leaf.configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def pki() -> Pki:
    ca = trustme.CA()
    leaf = ca.issue_cert("mail.example.com", "127.0.0.1")
    return Pki(ca, leaf, _server_context(leaf))


@pytest.fixture(scope="session")
def server_thread() -> Iterator[servers.ServerThread]:
    thread = servers.ServerThread()
    yield thread
    thread.close()


@pytest.fixture(scope="session")
def polite(server_thread: servers.ServerThread, pki: Pki) -> dict[TlsMode, int]:
    """One well-behaved server per TLS mode: mode -> port."""
    ctx = pki.ctx
    return {
        TlsMode.DIRECT: server_thread.serve(servers.direct(ctx), tls=ctx),
        TlsMode.STARTTLS_SMTP: server_thread.serve(servers.smtp(ctx)),
        TlsMode.STARTTLS_POP3: server_thread.serve(servers.pop3(ctx)),
        TlsMode.STARTTLS_IMAP: server_thread.serve(servers.imap(ctx)),
        TlsMode.STARTTLS_FTP: server_thread.serve(servers.ftp(ctx)),
        TlsMode.STARTTLS_LDAP: server_thread.serve(servers.ldap(ctx)),
    }


@pytest.fixture(scope="session")
def huge_chain_port(server_thread: servers.ServerThread) -> int:
    """A server presenting a chain of 100 certificates (leaf + 99 intermediates)."""
    parent = trustme.CA(path_length=200)
    for depth in range(99):
        parent = trustme.CA(parent_cert=parent, path_length=150 - depth)
    leaf = parent.issue_cert("huge.example.com")
    ctx = _server_context(leaf)
    return server_thread.serve(servers.direct(ctx), tls=ctx)


@pytest.fixture(scope="session")
def bad_signature_port(server_thread: servers.ServerThread, pki: Pki) -> int:
    """A TLS 1.2 server whose handshake signature does not verify with its certificate."""
    ctx = _server_context(pki.leaf, tls12=True)
    backend = server_thread.serve(servers.direct(ctx), tls=ctx)
    return server_thread.serve(servers.tampering_proxy(backend))


def probe(target: Target, *, timeout: float = 5.0) -> ProbeResult:
    """Probe one target from the test's thread on its own event loop."""
    prober = Prober(ProbeOptions(timeout=timeout))
    return run_async(prober.probe(target))
