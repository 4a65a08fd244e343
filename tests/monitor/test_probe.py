"""The probe engine against real servers on 127.0.0.1: every TLS mode, chains, failures."""

from __future__ import annotations

import hashlib
import socket
import ssl

import pytest
from cryptography import x509

from certmgr.models import TlsMode
from certmgr.probe.prober import ProbeOptions, Prober, run_async
from certmgr.probe.result import Reason
from certmgr.probe.targets import Target
from tests.monitor import servers
from tests.monitor.conftest import Pki, probe


@pytest.mark.parametrize("mode", list(TlsMode))
def test_each_tls_mode_completes_and_captures_the_chain(
        mode: TlsMode, polite: dict[TlsMode, int], pki: Pki) -> None:
    result = probe(Target("127.0.0.1", polite[mode], mode))
    assert result.ok, result.error
    assert result.reason is None and result.error is None
    assert result.tls_version in ("TLSv1.2", "TLSv1.3")
    assert result.cipher
    assert result.peer == "127.0.0.1"
    leaf = x509.load_der_x509_certificate(result.chain[0])
    expected = x509.load_pem_x509_certificate(pki.leaf.cert_chain_pems[0].bytes())
    assert leaf == expected
    assert result.leaf_sha256 == hashlib.sha256(result.chain[0]).hexdigest()


def test_sni_is_sent(server_thread: servers.ServerThread, pki: Pki) -> None:
    seen: list[str | None] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki.leaf.configure_cert(ctx)

    def remember(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen.append(name)

    ctx.sni_callback = remember
    port = server_thread.serve(servers.direct(ctx), tls=ctx)
    result = probe(Target("127.0.0.1", port, TlsMode.DIRECT, "www.example.com"))
    assert result.ok
    assert seen == ["www.example.com"]


def test_whole_presented_chain_of_intermediates_is_captured(
        server_thread: servers.ServerThread, pki: Pki) -> None:
    child = pki.ca.create_child_ca()
    leaf = child.issue_cert("chain.example.com")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    leaf.configure_cert(ctx)
    port = server_thread.serve(servers.direct(ctx), tls=ctx)
    result = probe(Target("127.0.0.1", port))
    assert result.ok
    sent = [x509.load_pem_x509_certificate(p.bytes()) for p in leaf.cert_chain_pems]
    got = [x509.load_der_x509_certificate(der) for der in result.chain]
    assert got == sent and len(got) == 2


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def test_nothing_listening_is_connection_refused() -> None:
    result = probe(Target("127.0.0.1", _closed_port()))
    assert not result.ok
    assert result.reason is Reason.CONNECTION_REFUSED
    assert result.error == "cannot connect: Connection refused"
    assert result.chain == ()


def test_unresolvable_name_is_unreachable() -> None:
    result = probe(Target("no-such-host.invalid", 443))
    assert result.reason is Reason.UNREACHABLE


def test_bad_handshake_signature_is_handshake_failed(bad_signature_port: int) -> None:
    result = probe(Target("127.0.0.1", bad_signature_port))
    assert not result.ok
    assert result.reason is Reason.HANDSHAKE_FAILED
    assert result.error and "handshake" in result.error


def test_probe_all_keeps_order_and_bounds_concurrency(polite: dict[TlsMode, int]) -> None:
    targets = [Target("127.0.0.1", polite[m], m) for m in TlsMode] * 5
    targets.insert(3, Target("127.0.0.1", _closed_port()))
    seen: list[str] = []
    prober = Prober(ProbeOptions(timeout=5, concurrency=3))
    results = run_async(prober.probe_all(iter(targets),
                                         on_result=lambda r: seen.append(str(r.target))))
    assert [r.target for r in results] == targets
    assert sorted(seen) == sorted(str(t) for t in targets)
    assert [r.ok for r in results].count(False) == 1
    assert results[3].reason is Reason.CONNECTION_REFUSED


def test_run_async_uses_uvloop_when_installed() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def loop_type() -> type:
        import asyncio

        return type(asyncio.get_running_loop())

    assert run_async(loop_type()) is uvloop.Loop


def test_threaded_probing_shares_one_iterator_and_keeps_order(
        polite: dict[TlsMode, int]) -> None:
    targets = [Target("127.0.0.1", polite[m], m) for m in TlsMode] * 4
    seen: list[Target] = []
    prober = Prober(ProbeOptions(timeout=5, concurrency=4))
    results = prober.probe_threaded(iter(targets), on_result=lambda r: seen.append(r.target),
                                    threads=3)
    assert [r.target for r in results] == targets
    assert all(r.ok for r in results)
    assert sorted(map(str, seen)) == sorted(map(str, targets))
    # Identical chains are one object, shared across results and threads.
    assert len({id(r.chain) for r in results}) == 1
