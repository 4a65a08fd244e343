"""The probe engine: connect, STARTTLS, handshake, capture the chain, close.

Speed matters (a scan of thousands of endpoints, a monitor of a fleet), so
the engine drives OpenSSL through a memory BIO (:class:`ssl.SSLObject`) over
a raw asyncio :class:`asyncio.Protocol` instead of asyncio's streams and
SSL transport; ``bench/scan.py`` measures the choice against a plain
asyncio loop. uvloop is used when installed. Certificates are kept as DER
and parsed later, by the checks, once per distinct certificate.

The handshake never verifies anything (expired, untrusted and mismatched
chains must still be collected); judging the chain is the checks' job. It
does fail when the server cannot prove it holds the key of its certificate
(a bad signature), which is what HANDSHAKE_FAILED reports.

Every step has its own timeout (:class:`ProbeOptions.timeout`): connecting,
each STARTTLS exchange, the handshake; and the whole probe has a total deadline
(:attr:`ProbeOptions.total`). Every way a probe can go wrong ends
as a :class:`ProbeResult` with a :class:`Reason`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from certmgr.models import TlsMode
from certmgr.probe.result import ProbeFailure, ProbeResult, Reason
from certmgr.probe.starttls import DIALOGUES
from certmgr.probe.targets import Target

__all__ = ["ProbeOptions", "Prober", "make_client_context", "run_async"]

#: Longest plaintext line a STARTTLS dialogue accepts before calling it garbage.
MAX_LINE = 8192
#: Most bytes a server may send during the handshake (a 100-certificate chain is ~100 KB).
MAX_HANDSHAKE_BYTES = 1 << 20
#: Most event-loop threads :meth:`Prober.probe_threaded` starts by default.
MAX_THREADS = 4
#: Distinct chains kept for sharing between results before the table starts afresh.
_INTERNED_CHAINS = 4096

T = TypeVar("T")


@dataclass(frozen=True)
class ProbeOptions:
    """How probes behave.

    Attributes:
        timeout: seconds allowed for each step (connect, each STARTTLS exchange, handshake).
        concurrency: most probes in flight at once.
        deadline: seconds the whole probe may take, whatever each step does (default:
            3 x timeout): a server that answers every step just in time is cut off too.
    """

    timeout: float = 5.0
    concurrency: int = 256
    deadline: float | None = None

    @property
    def total(self) -> float:
        return self.deadline if self.deadline is not None else 3 * self.timeout

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ValueError(f"timeout {self.timeout} must be positive")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError(f"deadline {self.deadline} must be positive")
        if self.concurrency < 1:
            raise ValueError(f"concurrency {self.concurrency} must be at least 1")


def make_client_context() -> ssl.SSLContext:
    """A client context that accepts anything a server presents, old protocols included.

    Verification is off on purpose: the chain is judged afterwards by the
    checks, and a scanner must see expired, self-signed and weak
    certificates rather than fail on them.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # SECLEVEL=0 lets OpenSSL talk to servers with 1024-bit RSA or SHA-1 chains (the seed's
    # own certificates), so that they become WEAK_KEY findings instead of handshake failures.
    # Anonymous suites are left out: a handshake without a certificate shows nothing to check.
    ctx.set_ciphers("ALL:!aNULL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0 servers must be seen
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    return ctx


def _chain_der(obj: ssl.SSLObject) -> tuple[bytes, ...]:
    """The chain the server presented, DER, as sent (leaf first)."""
    public = getattr(obj, "get_unverified_chain", None)
    if public is not None:  # Python 3.13+: DER bytes
        return tuple(public() or ())
    # Python 3.11/3.12 have the method only on the underlying _ssl object, as Certificates.
    certs = obj._sslobj.get_unverified_chain() or []  # type: ignore[attr-defined]
    return tuple(c.public_bytes(ssl._ssl.ENCODING_DER) for c in certs)  # type: ignore[attr-defined]


class _Connection(asyncio.Protocol):
    """One probe's connection: plaintext reads for STARTTLS, then a memory-BIO handshake."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.peer: str | None = None
        self.step = "the connection"
        self._timer: asyncio.Timeout | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[None] | None = None
        self._closed: str | None = None  # "closed" or "reset" once the peer went away
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._done: asyncio.Future[None] | None = None
        self._received = 0

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        # Asked now: after a reset uvloop can no longer tell whom it was talking to.
        self.peer = _peer_name(self.transport)

    def data_received(self, data: bytes) -> None:
        if self._tls is not None:
            self._received += len(data)
            if self._received > MAX_HANDSHAKE_BYTES:
                self._finish(ProbeFailure(Reason.PROTOCOL_ERROR,
                                          f"server sent more than {MAX_HANDSHAKE_BYTES} bytes "
                                          "without completing the handshake"))
                return
            self._incoming.write(data)
            self._advance()
            return
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool | None:
        self._lost(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)

    def _lost(self, exc: Exception | None) -> None:
        if self._closed is None:
            self._closed = "reset" if isinstance(exc, ConnectionResetError) else "closed"
        if self._tls is not None:
            self._finish(self._gone())
        self._wake()

    def _gone(self) -> ProbeFailure:
        """Why the connection is unusable, phrased for the step under way."""
        if self._closed == "reset":
            return ProbeFailure(Reason.CONNECTION_RESET,
                                f"server reset the connection while we waited for {self.step}")
        if self._tls is not None:
            return ProbeFailure(Reason.HANDSHAKE_FAILED,
                                "server closed the connection during the TLS handshake")
        return ProbeFailure(Reason.STARTTLS_REFUSED,
                            f"server closed the connection while we waited for {self.step}")

    # -- steps and timeouts ----------------------------------------------------

    def begin(self, step: str) -> None:
        """Start a step: its own full timeout, and its name for messages."""
        self.step = step
        if self._timer is not None:
            self._timer.reschedule(self._loop.time() + self._timeout)

    def set_timer(self, timer: asyncio.Timeout) -> None:
        self._timer = timer

    # -- plaintext reads for STARTTLS --------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self) -> None:
        if self._closed is not None:
            raise self._gone()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def readline(self) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end + 1])
                del self._buffer[:end + 1]
                return line
            if len(self._buffer) > MAX_LINE:
                raise ProbeFailure(Reason.PROTOCOL_ERROR,
                                   f"server sent a line longer than {MAX_LINE} bytes while we "
                                   f"waited for {self.step}")
            await self._more()

    async def readexactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            await self._more()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    # -- the handshake ---------------------------------------------------------

    async def handshake(self, ctx: ssl.SSLContext, sni: str | None) -> ssl.SSLObject:
        """Run the TLS handshake over the connection; returns the finished SSLObject."""
        self.begin("the TLS handshake")
        self._done = self._loop.create_future()
        self._tls = ctx.wrap_bio(self._incoming, self._outgoing, server_hostname=sni)
        if self._buffer:  # bytes the server sent right after agreeing to STARTTLS
            self._incoming.write(bytes(self._buffer))
            self._buffer.clear()
        if self._closed is not None:
            raise self._gone()
        self._advance()
        await self._done
        return self._tls

    def _advance(self) -> None:
        tls = self._tls
        assert tls is not None
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            self._flush()  # the alert, so the server's log says why
            reason = exc.reason or exc.strerror or str(exc)
            self._finish(ProbeFailure(Reason.HANDSHAKE_FAILED,
                                      f"TLS handshake failed: {reason}"))
            return
        self._flush()
        self._finish(None)

    def _flush(self) -> None:
        if self._outgoing.pending and self.transport is not None:
            self.transport.write(self._outgoing.read())

    def _finish(self, failure: ProbeFailure | None) -> None:
        done = self._done
        if done is not None and not done.done():
            if failure is None:
                done.set_result(None)
            else:
                done.set_exception(failure)

    def close(self) -> None:
        """Hang up: politely (FIN) after a handshake, at once (RST) when nothing came of it."""
        if self.transport is None:
            return
        if self._tls is None:
            self.transport.abort()
        else:
            self.transport.close()


_ERRNO_REASONS = {
    errno.ECONNREFUSED: Reason.CONNECTION_REFUSED,
    errno.ECONNRESET: Reason.CONNECTION_RESET,
    errno.ETIMEDOUT: Reason.TIMEOUT,
}


def _os_failure(exc: OSError, target: Target) -> ProbeFailure:
    if isinstance(exc, socket.gaierror):
        return ProbeFailure(Reason.UNREACHABLE, f"cannot resolve {target.host}: {exc.strerror}")
    reason = _ERRNO_REASONS.get(exc.errno or 0, Reason.UNREACHABLE)
    text = exc.strerror or str(exc) or type(exc).__name__
    return ProbeFailure(reason, f"cannot connect: {text}")


class Prober:
    """Probes targets: one at a time with :meth:`probe`, or many with :meth:`probe_all`."""

    def __init__(self, options: ProbeOptions | None = None,
                 context: ssl.SSLContext | None = None) -> None:
        self.options = options or ProbeOptions()
        self.context = context or make_client_context()
        self._chains: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}

    def _intern(self, chain: tuple[bytes, ...]) -> tuple[bytes, ...]:
        """One shared copy of each distinct chain: a fleet serves few, a scan sees many."""
        if len(self._chains) >= _INTERNED_CHAINS:
            self._chains.clear()
        return self._chains.setdefault(chain, chain)

    async def probe(self, target: Target) -> ProbeResult:
        """Probe one target. Never raises for anything the server does."""
        loop = asyncio.get_running_loop()
        conn = _Connection(loop, self.options.timeout)
        whole = asyncio.timeout(self.options.total)
        try:
            async with whole, asyncio.timeout(self.options.timeout) as timer:
                conn.set_timer(timer)
                tls = await self._session(loop, conn, target)
                chain = _chain_der(tls)
                if not chain:
                    raise ProbeFailure(Reason.HANDSHAKE_FAILED,
                                       "the server completed the handshake without a certificate")
                return ProbeResult(target, True, self._intern(chain), tls.version(),
                                   (tls.cipher() or ("",))[0], peer=_peer(conn),
                                   observed_at=time.time())
        except TimeoutError:
            waited = f"timed out after {self.options.timeout:g}s waiting for {conn.step}"
            if whole.expired():
                waited = (f"timed out: the probe took more than {self.options.total:g}s in "
                          f"all (at {conn.step})")
            return self._failed(target, conn, Reason.TIMEOUT, waited)
        except ProbeFailure as exc:
            return self._failed(target, conn, exc.reason, exc.message)
        except OSError as exc:
            failure = _os_failure(exc, target)
            return self._failed(target, conn, failure.reason, failure.message)
        finally:
            conn.close()

    async def _session(self, loop: asyncio.AbstractEventLoop, conn: _Connection,
                       target: Target) -> ssl.SSLObject:
        conn.begin("the connection")
        await loop.create_connection(lambda: conn, target.host, target.port)
        if target.tls is not TlsMode.DIRECT:
            await DIALOGUES[target.tls](conn)
        return await conn.handshake(self.context, target.sni)

    @staticmethod
    def _failed(target: Target, conn: _Connection, reason: Reason, error: str) -> ProbeResult:
        return ProbeResult(target, False, reason=reason, error=error, peer=_peer(conn),
                           observed_at=time.time())

    async def probe_all(
        self,
        targets: Iterable[Target],
        on_result: Callable[[ProbeResult], None] | None = None,
    ) -> list[ProbeResult]:
        """Probe every target, at most ``options.concurrency`` at a time.

        Targets are pulled from the iterable as workers free up, so a huge
        lazy expansion is never materialised. Results come back in the
        order of ``targets``; ``on_result`` is called as each one finishes.
        """
        count = self.options.concurrency
        if isinstance(targets, Sized):
            count = max(1, min(count, len(targets)))
        results: list[tuple[int, ProbeResult]] = []
        await self._drain(enumerate(targets), count, results, on_result)
        results.sort(key=lambda item: item[0])
        return [result for _, result in results]

    async def _drain(self, numbered: Iterator[tuple[int, Target]], workers: int,
                     results: list[tuple[int, ProbeResult]],
                     on_result: Callable[[ProbeResult], None] | None) -> None:
        """Run ``workers`` probing coroutines until ``numbered`` is exhausted."""

        async def worker() -> None:
            for index, target in numbered:
                result = await self.probe(target)
                results.append((index, result))
                if on_result is not None:
                    on_result(result)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    def probe_threaded(
        self,
        targets: Iterable[Target],
        on_result: Callable[[ProbeResult], None] | None = None,
        *,
        threads: int | None = None,
    ) -> list[ProbeResult]:
        """Like :meth:`probe_all`, on one event loop per thread (blocking; for big scans).

        OpenSSL releases the GIL during the handshake's cryptography, which is
        most of a probe's CPU time, so loops in two or more threads use more
        than one core. The threads share one target iterator and split
        ``options.concurrency`` between them. ``threads`` defaults to the
        CPU count (at most :data:`MAX_THREADS`); 1 runs on this thread.
        """
        count = threads or min(os.cpu_count() or 1, MAX_THREADS)
        if count <= 1:
            return run_async(self.probe_all(targets, on_result))
        shared = _Locked(enumerate(targets))
        results: list[tuple[int, ProbeResult]] = []
        failures: list[BaseException] = []
        per_loop = max(1, self.options.concurrency // count)

        def shard() -> None:
            try:
                run_async(self._drain(shared, per_loop, results, on_result))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                failures.append(exc)

        pool = [threading.Thread(target=shard, name=f"certmgr-probe-{i}", daemon=True)
                for i in range(count)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        if failures:
            raise failures[0]
        results.sort(key=lambda item: item[0])
        return [result for _, result in results]


class _Locked(Iterator[tuple[int, Target]]):
    """An iterator several threads can pull from."""

    def __init__(self, source: Iterator[tuple[int, Target]]) -> None:
        self._source = source
        self._lock = threading.Lock()

    def __next__(self) -> tuple[int, Target]:
        with self._lock:
            return next(self._source)


def _peer(conn: _Connection) -> str | None:
    return conn.peer


def _peer_name(transport: asyncio.BaseTransport) -> str | None:
    try:
        peer = transport.get_extra_info("peername")
    except (AttributeError, OSError):
        # uvloop asks the socket itself, which a reset may already have closed.
        return None
    return str(peer[0]) if peer else None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a fresh event loop: uvloop's when installed, asyncio's otherwise."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    with contextlib.suppress(ImportError):
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
