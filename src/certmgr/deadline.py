"""A total deadline for one blocking network exchange (an SMTP session, an HTTP POST).

A socket timeout bounds each read: a peer that sends one byte every half second
never trips it, and the exchange runs for as long as the peer likes. A
:class:`Deadline` bounds the whole exchange: every socket made through
:meth:`Deadline.connect` is shut down when the time is up, which ends any read
or write blocked on it at once (TLS layers wrapped on top included), and the
caller reports "did not finish within N s".

smtplib and http.client open their sockets through a seam (``_get_socket``,
``_create_connection``); the notifiers and Tomcat's manager call point those at
:meth:`Deadline.connect`. This module imports nothing from certmgr: every layer
may use it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import Any

__all__ = ["Deadline"]


class Deadline:
    """``seconds`` from entering the ``with`` block to shut down every watched socket."""

    def __init__(self, seconds: float) -> None:
        if not seconds > 0:
            raise ValueError(f"a deadline must be positive, not {seconds!r}")
        self.seconds = seconds
        self.expired = False
        self._end = time.monotonic() + seconds
        self._watched: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> Deadline:
        self._end = time.monotonic() + self.seconds
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()

    def remaining(self) -> float:
        """Seconds left (a little above zero when none: a connect then fails at once)."""
        return max(0.001, self._end - time.monotonic())

    def connect(self, address: tuple[str, int], timeout: float | None = None,
                source_address: Any = None) -> socket.socket:
        """``socket.create_connection`` within what is left of the deadline, watched."""
        left = self.remaining()
        sock = socket.create_connection(address, left if timeout is None else min(timeout, left),
                                        source_address)
        self.watch(sock)
        return sock

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the time is up.

        A duplicate of its descriptor is kept: TLS wrapping takes the original socket
        object over, but a shutdown on any descriptor ends the one connection.
        """
        with self._lock:
            if self.expired:
                sock.shutdown(socket.SHUT_RDWR)
            self._watched.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._watched:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
