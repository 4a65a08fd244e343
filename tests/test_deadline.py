"""certmgr.deadline: a total deadline for a blocking exchange, TLS layers included."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest
import trustme

from certmgr.deadline import Deadline


@contextlib.contextmanager
def dripping_tls_server(ca: trustme.CA) -> Iterator[int]:
    """Completes a TLS handshake, then sends one byte every 0.2 s until the client leaves."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        raw, _ = listener.accept()
        with contextlib.suppress(OSError), ctx.wrap_socket(raw, server_side=True) as tls:
            while not stop.wait(0.2):
                tls.sendall(b".")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_tls_exchange_is_cut_off_at_the_deadline() -> None:
    ca = trustme.CA()
    client = ssl.create_default_context()
    ca.configure_trust(client)
    with dripping_tls_server(ca) as port:
        t0 = time.monotonic()
        received = b""
        with Deadline(1.0) as deadline, pytest.raises((OSError, ssl.SSLError)):
            raw = deadline.connect(("127.0.0.1", port), timeout=30)
            with client.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                while chunk := tls.recv(10):  # a per-read timeout of 30 s never fires
                    received += chunk
                raise ConnectionAbortedError("the connection ended")
        took = time.monotonic() - t0
    assert deadline.expired and 0.9 < took < 2.0
    assert 2 <= len(received) <= 6


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Deadline(0)
