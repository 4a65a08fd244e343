"""``certmgr web``: the console over HTTPS with uvicorn, on its own certificate.

The key is never written in the clear: it is handed to the TLS context through a
0600 temporary file encrypted under a random one-time password, removed at once.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import secrets
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certmgr.app.console import ConsoleCertificate
from certmgr.errors import UsageError

__all__ = ["CertificateWatch", "Listen", "parse_listen", "serve", "tls_context"]

_LISTEN = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]{2,45})\]|(?P<host>[A-Za-z0-9.-]{1,253})):"
                     r"(?P<port>[0-9]{1,5})")


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"


def parse_listen(text: str) -> Listen:
    """``127.0.0.1:8443``, ``[::1]:8443`` or ``localhost:8443``; port 1 to 65535 (0 for
    any free port, which tests use)."""
    m = _LISTEN.fullmatch(text)
    port = int(m.group("port")) if m else -1
    if m is None or not 0 <= port <= 65535:
        raise UsageError(f"--listen {text[:80]!r} is not ADDRESS:PORT (127.0.0.1:8443, "
                         "[::1]:8443) with a port of 1 to 65535")
    return Listen(m.group("v6") or m.group("host"), port)


def tls_context(cert: ConsoleCertificate,
                context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """A server context with TLS 1.2+ serving ``cert``; given ``context``, the certificate
    it serves to new connections is replaced (a renewal, without a restart)."""
    from cryptography.hazmat.primitives import serialization

    key = (serialization.load_pem_private_key(cert.key, password=None)
           if cert.key.startswith(b"-----") else
           serialization.load_der_private_key(cert.key, password=None))
    once = secrets.token_bytes(32)
    sealed = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(once))
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory(prefix="certmgr-web-") as tmp:  # 0700
        chain, keyfile = Path(tmp) / "chain.pem", Path(tmp) / "key.pem"
        chain.write_bytes(cert.chain_pem)
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(sealed)
        context.load_cert_chain(chain, keyfile, password=once)
    return context


def make_server(app: Any, listen: Listen, context: ssl.SSLContext) -> Any:
    """A uvicorn server for ``app`` on ``listen`` with ``context`` (HTTPS only)."""
    import uvicorn

    class _Config(uvicorn.Config):
        # uvicorn builds its context from files; ours is built already (the key never
        # sits in a file in the clear). The certfile name only says "https".
        def load(self) -> None:
            shown, self.ssl_certfile = self.ssl_certfile, None
            super().load()
            self.ssl, self.ssl_certfile = context, shown

    config = _Config(app, host=listen.host, port=listen.port, log_level="warning",
                     proxy_headers=False, server_header=False, date_header=True,
                     timeout_graceful_shutdown=5)
    config.ssl_certfile = "(in memory)"
    return uvicorn.Server(config)


class CertificateWatch:
    """Serves the newest version of the console's certificate: every ``interval`` seconds
    (and on :meth:`check`) the definition's current version is looked up, and a new one
    (renewed by ``certmgr monitor``, or issued from the console) replaces the old for new
    connections."""

    def __init__(self, load: Callable[[], ConsoleCertificate], context: ssl.SSLContext,
                 current: ConsoleCertificate, interval: float = 3600.0) -> None:
        self._load, self._context, self.current = load, context, current
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="certmgr-web-cert",
                                        daemon=True)

    def check(self) -> bool:
        """Swap in a newer version if there is one; True when it did."""
        fresh = self._load()
        if (fresh.definition, fresh.version) == (self.current.definition,
                                                 self.current.version):
            return False
        tls_context(fresh, self._context)
        self.current = fresh
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception:
                logging.getLogger("certmgr.web").exception("certificate check failed")

    def __enter__(self) -> CertificateWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def serve(app: Any, listen: Listen, context: ssl.SSLContext) -> None:
    make_server(app, listen, context).run()
