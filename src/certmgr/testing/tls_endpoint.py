"""A TLS server on 127.0.0.1 whose certificate a test can swap, for monitor tests.

It completes real handshakes with whatever certificate chain and key it was
last given (:meth:`TlsEndpoint.serve`), so a probe sees exactly what a
program would serve: a renewed certificate, a drifted one, an expired one.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import tempfile
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_der_private_key, load_pem_private_key

__all__ = ["TlsEndpoint", "server_context"]


def server_context(chain_pem: bytes, key: bytes) -> ssl.SSLContext:
    """A server context from a PEM chain (leaf first) and a PEM or DER private key."""
    loaded = (load_pem_private_key(key, None) if key.lstrip().startswith(b"-----")
              else load_der_private_key(key, None))
    key_pem = loaded.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # ssl loads certificates only from files: a private 0700 directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="certmgr-tls-") as tmp:
        cert_file = os.path.join(tmp, "chain.pem")
        key_file = os.path.join(tmp, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(chain_pem)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


class TlsEndpoint:
    """Accepts TLS connections on 127.0.0.1:``port`` in a background thread."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.handshakes = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def serve(self, context: ssl.SSLContext) -> None:
        """Serve another certificate from the next connection on."""
        with self._lock:
            self.context = context

    def __enter__(self) -> TlsEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with self._lock:
            ctx = self.context
        conn.settimeout(10)
        with contextlib.ExitStack() as stack:
            stack.enter_context(conn)
            try:
                tls = stack.enter_context(ctx.wrap_socket(conn, server_side=True))
                with self._lock:
                    self.handshakes += 1
                tls.recv(1)  # until the client closes
            except (OSError, ssl.SSLError):
                return
