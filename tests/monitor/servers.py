"""Real TLS and STARTTLS servers on 127.0.0.1 for the probe tests, polite and hostile.

Each server is an asyncio handler run on a loop in a background thread; the
probes under test run on their own loop in the test's thread, so both ends
are real sockets. Handlers speak just enough of each protocol to be a
believable server (and the hostile ones misbehave on purpose).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ServerThread:
    """An event loop in a thread, serving handlers on 127.0.0.1 ephemeral ports."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._thread.start()

    def serve(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> int:
        """Serve ``handler`` on a new port (TLS from the start with ``tls``); returns the port."""

        async def start() -> int:
            server = await asyncio.start_server(_guarded(handler), "127.0.0.1", 0, ssl=tls)
            self._servers.append(server)
            return int(server.sockets[0].getsockname()[1])

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def serve_raw(self, handler: Callable[[socket.socket], None]) -> int:
        """Serve with a blocking per-connection socket handler in threads (for resets)."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)

        def accept_loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        self._raw = [*getattr(self, "_raw", []), listener]
        return int(listener.getsockname()[1])

    def call(self, coro: Awaitable[object]) -> object:
        async def wrap() -> object:
            return await coro

        fut: Future[object] = asyncio.run_coroutine_threadsafe(wrap(), self.loop)
        return fut.result(10)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        for listener in getattr(self, "_raw", []):
            listener.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def _guarded(handler: Handler) -> Handler:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.transport.abort()

    return run


async def _hold(reader: asyncio.StreamReader) -> None:
    """Keep the connection until the client goes away."""
    with contextlib.suppress(OSError, ssl.SSLError):
        while await reader.read(4096):
            pass


async def _tls_then_hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         ctx: ssl.SSLContext) -> None:
    await writer.start_tls(ctx)
    await _hold(reader)


# -- polite servers: one per protocol -------------------------------------------------

def direct(ctx: ssl.SSLContext) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _hold(reader)

    return handler


def smtp(ctx: ssl.SSLContext, *, starttls_reply: bytes = b"220 2.0.0 Ready to start TLS\r\n",
         offer: bool = True, banner: bytes = b"220 mx.example.com ESMTP test\r\n") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        line = await reader.readline()
        assert line.upper().startswith(b"EHLO "), line
        caps = [b"250-mx.example.com", b"250-PIPELINING", b"250-SIZE 10240000"]
        if offer:
            caps.append(b"250-STARTTLS")
        caps.append(b"250 8BITMIME")
        writer.write(b"\r\n".join(caps) + b"\r\n")
        line = await reader.readline()
        assert line == b"STARTTLS\r\n", line
        writer.write(starttls_reply)
        if starttls_reply.startswith(b"220"):
            await _tls_then_hold(reader, writer, ctx)
        else:
            await _hold(reader)

    return handler


def pop3(ctx: ssl.SSLContext, *, stls_reply: bytes = b"+OK Begin TLS negotiation\r\n") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK Dovecot ready.\r\n")
        assert await reader.readline() == b"STLS\r\n"
        writer.write(stls_reply)
        if stls_reply.startswith(b"+OK"):
            await _tls_then_hold(reader, writer, ctx)
        else:
            await _hold(reader)

    return handler


def imap(ctx: ssl.SSLContext, *, answer: bytes = b"OK Begin TLS negotiation now") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.\r\n")
        line = await reader.readline()
        tag, command = line.split()
        assert command.upper() == b"STARTTLS"
        writer.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" " + answer + b"\r\n")
        if answer.startswith(b"OK"):
            await _tls_then_hold(reader, writer, ctx)
        else:
            await _hold(reader)

    return handler


def ftp(ctx: ssl.SSLContext, *, auth_reply: bytes = b"234 Proceed with negotiation.\r\n"
        ) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-Welcome\r\n free text line\r\n220 (vsFTPd 3.0.3)\r\n")
        assert (await reader.readline()).upper() == b"AUTH TLS\r\n"
        writer.write(auth_reply)
        if auth_reply.startswith(b"234"):
            await _tls_then_hold(reader, writer, ctx)
        else:
            await _hold(reader)

    return handler


def ldap_response(code: int, message: bytes = b"", message_id: int = 1) -> bytes:
    """A BER LDAPMessage with an ExtendedResponse (long-form lengths, as some servers send)."""
    oid = b"1.3.6.1.4.1.1466.20037"
    body = (b"\x0a\x01" + bytes([code]) + b"\x04\x00" + b"\x04" + bytes([len(message)])
            + message + b"\x8a" + bytes([len(oid)]) + oid)
    op = b"\x78\x81" + bytes([len(body)]) + body
    msg = b"\x02\x01" + bytes([message_id]) + op
    return b"\x30\x82" + struct.pack(">H", len(msg)) + msg


def ldap(ctx: ssl.SSLContext, *, response: bytes | None = None) -> Handler:
    answer = ldap_response(0) if response is None else response

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readexactly(2)
        assert head[0] == 0x30
        await reader.readexactly(head[1])
        writer.write(answer)
        if answer == ldap_response(0):
            await _tls_then_hold(reader, writer, ctx)
        else:
            await _hold(reader)

    return handler


# -- hostile servers ---------------------------------------------------------------

async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and never says a word (nor answers the ClientHello)."""
    await _hold(reader)


async def slow_loris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An SMTP banner that never ends: one byte of a continuation line now and then."""
    while True:
        for byte in b"220-still here\r\n":
            writer.write(bytes([byte]))
            await asyncio.sleep(0.05)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Binary noise with no line ends, forever."""
    noise = bytes(range(256)).replace(b"\n", b"").replace(b"\r", b"") * 16
    while True:
        writer.write(noise)
        await writer.drain()
        await asyncio.sleep(0.01)


async def garbage_lines(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Lines, but no protocol's: a web server on a mail port."""
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    await _hold(reader)


def reset_at_once(conn: socket.socket) -> None:
    """Accept, then close with SO_LINGER 0: the client gets a RST."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.recv(4096)
    conn.close()


def iter_records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(content type, version, fragment) of each whole TLS record at the start of ``data``."""
    pos = 0
    while len(data) - pos >= 5:
        kind, version, length = struct.unpack(">BHH", data[pos:pos + 5])
        if len(data) - pos - 5 < length:
            return
        yield kind, version, data[pos + 5:pos + 5 + length]
        pos += 5 + length


def corrupt_server_key_exchange(data: bytes) -> bytes:
    """Flip the last signature byte of a TLS 1.2 ServerKeyExchange in a server flight.

    The effect is a server whose key does not match its certificate: the
    signature made with "its" key does not verify with the certificate's.
    """
    out = bytearray()
    for kind, version, fragment in iter_records(data):
        frag = bytearray(fragment)
        pos = 0
        while kind == 22 and pos + 4 <= len(frag):
            msg_type = frag[pos]
            length = int.from_bytes(frag[pos + 1:pos + 4], "big")
            if msg_type == 12 and pos + 4 + length <= len(frag):
                frag[pos + 4 + length - 1] ^= 0x01
            pos += 4 + length
        out += struct.pack(">BHH", kind, version, len(frag)) + frag
    return bytes(out)


def tampering_proxy(backend_port: int) -> Handler:
    """A proxy to a TLS 1.2 server that corrupts the ServerKeyExchange signature."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", backend_port)

        async def client_to_server() -> None:
            while data := await reader.read(65536):
                up_writer.write(data)
            up_writer.close()

        async def server_to_client() -> None:
            pending = b""
            while data := await up_reader.read(65536):
                pending += data
                whole = sum(5 + len(f) for _, _, f in iter_records(pending))
                writer.write(corrupt_server_key_exchange(pending[:whole]))
                pending = pending[whole:]

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        finally:
            up_writer.transport.abort()

    return handler


def reset_before_reading(conn: socket.socket) -> None:
    """Accept and reset at once, before the client says anything."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


async def close_after_client_hello(reader: asyncio.StreamReader,
                                   writer: asyncio.StreamWriter) -> None:
    """Read the ClientHello, then hang up cleanly (FIN): a TLS stack that gave up."""
    await reader.read(4096)
    writer.close()


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept and hang up cleanly before any greeting."""
    writer.close()


async def starttls_then_stall(reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter) -> None:
    """An SMTP server that agrees to STARTTLS and then never answers the ClientHello."""
    writer.write(b"220 mx ESMTP\r\n")
    await reader.readline()
    writer.write(b"250-mx\r\n250 STARTTLS\r\n")
    await reader.readline()
    writer.write(b"220 go ahead\r\n")
    await _hold(reader)


async def endless_banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A multi-line greeting that never ends, sent as fast as the client reads."""
    while True:
        writer.write(b"220-and another thing\r\n" * 64)
        await writer.drain()
