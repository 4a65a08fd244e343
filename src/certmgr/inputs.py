"""Every value a user gives, bounded and typed at the edge, in one place.

The command line (typer options take their ``min``/``max`` from here), the TOML
files (``monitor.toml``, ``apply FILE.toml``) and the web API check durations,
counts, ports, serials, concurrency, sizes and timeouts against the same
:class:`Range` objects, so a value one face accepts is never a crash in
another: ``--validity 99999999d`` is refused with one line where it is given,
not as ``date value out of range`` when the certificate is made.

Files the user names are read with :func:`read_user_file`: opened once without
blocking (a FIFO or a device is refused, never waited on), checked with
``fstat`` to be a regular file, read from that descriptor up to a size cap.

Text that came from the user and is printed again goes through
:func:`printable`, so a NUL or an ESC in a file never reaches the terminal raw.

This module is at the bottom of the layers: it imports nothing from certmgr
but :mod:`certmgr.errors`.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from certmgr.errors import InputError

__all__ = [
    "CONCURRENCY",
    "COUNT",
    "EXPIRY_WINDOW",
    "HISTORY",
    "MAX_FILE_BYTES",
    "MONITOR_PERIOD",
    "PORT",
    "ROW_ID",
    "SCAN_ENDPOINTS",
    "SCAN_THREADS",
    "SERIAL",
    "TIMEOUT",
    "VALIDITY",
    "WARN_DAYS",
    "Range",
    "bounded_duration",
    "control_characters",
    "printable",
    "read_user_file",
    "refuse_control",
]

_DAY = 86400
_CENTURY = 36525 * _DAY


@dataclass(frozen=True)
class Range:
    """The accepted values of one kind of input, both ends included.

    Args:
        what: the kind of value, for messages ("port", "timeout").
        low: the smallest value accepted.
        high: the largest value accepted.
        unit: how the bounds are spelled in messages ("s" for seconds).
    """

    what: str
    low: int | float
    high: int | float
    unit: str = ""

    def __contains__(self, value: object) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and self.low <= value <= self.high)

    def describe(self) -> str:
        return f"{_number(self.low)}{self.unit} to {_number(self.high)}{self.unit}"

    def check(self, value: object, name: str | None = None) -> int | float:
        """``value`` if it is a number in range.

        Raises:
            InputError: not a number, or out of range (the message names ``name``).
        """
        if value not in self:
            label = name or self.what
            raise InputError(f"{label} {_short(value)}: must be a number from "
                             f"{self.describe()}")
        assert isinstance(value, (int, float))
        return value

    def check_int(self, value: object, name: str | None = None) -> int:
        """``value`` if it is a whole number in range (booleans are not numbers).

        Raises:
            InputError: not a whole number, or out of range.
        """
        if not isinstance(value, int) or isinstance(value, bool) or value not in self:
            label = name or self.what
            raise InputError(f"{label} {_short(value)}: must be a whole number from "
                             f"{self.describe()}")
        return value


def _number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the ranges ---------------------------------------------------------------------------

#: A certificate's lifetime (``--validity``, ``validity =``): a century at most, so every
#: not-after stays a date X.509 and Python can write.
VALIDITY = Range("validity", 1, _CENTURY, "s")
#: How far ahead to look (``list --expiring``, ``renew_before``, ``expiry_warning``).
EXPIRY_WINDOW = Range("window", 1, _CENTURY, "s")
#: The monitor's periods (``interval``, ``repeat``, retry back-off, probe timeout).
MONITOR_PERIOD = Range("period", 0.001, 366 * _DAY, "s")
#: A network timeout (email and webhook ``timeout``, ``scan --timeout``).
TIMEOUT = Range("timeout", 0.05, 3600, "s")
#: A TCP port.
PORT = Range("port", 1, 65535)
#: How many rows to show or keep (``audit -n``).
COUNT = Range("count", 1, 1_000_000)
#: A repository row id (``deployments --to ID``): SQLite's and PostgreSQL's BIGINT.
ROW_ID = Range("id", 1, (1 << 63) - 1)
#: How many probe results the monitor keeps per endpoint.
HISTORY = Range("history", 1, 100_000)
#: Probes in flight at once (``scan --concurrency``, monitor ``concurrency``).
CONCURRENCY = Range("concurrency", 1, 4096)
#: Event-loop threads of a big scan (0: chosen from the CPUs).
SCAN_THREADS = Range("threads", 0, 64)
#: ``scan --warn-days``.
WARN_DAYS = Range("days", 0, 36525)
#: Endpoints one scan may probe, all targets and ``--from`` lines together.
SCAN_ENDPOINTS = Range("endpoints", 1, 1 << 20)
#: A certificate serial number: positive, at most 20 octets (RFC 5280 4.1.2.2), so below
#: 2**159 as a positive DER INTEGER.
SERIAL = Range("serial", 1, (1 << 159) - 1)
#: The largest file a user may hand certmgr (certificates, keystores, TOML, target lists).
MAX_FILE_BYTES = 16 * 1024 * 1024


def bounded_duration(seconds: int | float, rng: Range, name: str) -> dt.timedelta:
    """``seconds`` as a timedelta, if ``rng`` allows it (checked before any arithmetic
    that could overflow).

    Raises:
        InputError: out of range; the message names ``name`` and the bounds in days.
    """
    if seconds not in rng:
        high_days = rng.high / _DAY
        low = f"{_number(rng.low)}s"
        high = f"{_number(high_days)}d" if high_days >= 1 else f"{_number(rng.high)}s"
        raise InputError(f"{name}: out of range: give {low} to {high}")
    return dt.timedelta(seconds=seconds)


# -- text -----------------------------------------------------------------------------------

def control_characters(text: str) -> list[str]:
    """The control characters in ``text`` (C0, DEL and C1), as they would be escaped."""
    return sorted({repr(c)[1:-1] for c in text if _is_control(c)})


def _is_control(c: str) -> bool:
    code = ord(c)
    return code < 0x20 or 0x7F <= code < 0xA0


def refuse_control(text: str, name: str) -> str:
    """``text`` if it has no control characters (newline, tab, NUL, ESC...).

    Raises:
        InputError: it has one; the message shows them escaped.
    """
    bad = control_characters(text)
    if bad:
        raise InputError(f"{name} '{printable(text)}' contains control characters "
                         f"({', '.join(bad)}); remove them")
    return text


def printable(text: str, keep: str = "") -> str:
    """``text`` with every control character escaped (``\\x1b``, ``\\n``), to echo it safely.

    Args:
        text: what to echo.
        keep: control characters to leave as they are (e.g. ``"\\n"`` for a message
            made of lines).
    """
    if not any(_is_control(c) and c not in keep for c in text):
        return text
    return "".join(repr(c)[1:-1] if _is_control(c) and c not in keep else c for c in text)


# -- files ------------------------------------------------------------------------------------

def read_user_file(path: str | Path, *, name: str | None = None,
                   limit: int = MAX_FILE_BYTES, secret: bool = False,
                   stdin: bool = False) -> bytes:
    """The bytes of a file the user named, read without ever blocking on it.

    The file is opened once with ``O_NONBLOCK`` (and ``O_NOFOLLOW`` for
    ``secret`` files: key material is never read through a symlink), checked
    with ``fstat`` on that descriptor to be a regular file, and read from it
    up to ``limit`` bytes.

    Args:
        path: the path as the user gave it.
        name: how the file is named in messages (e.g. ``--password-file FILE``).
        limit: the size cap in bytes.
        secret: the file holds key material or a password.
        stdin: ``-`` means standard input (read up to ``limit`` as well).

    Raises:
        InputError: missing, unreadable, not a regular file, a symlink (``secret``),
            or larger than ``limit``.
    """
    label = name or str(path)
    if stdin and str(path) == "-":
        data = sys.stdin.buffer.read(limit + 1)
        if len(data) > limit:
            raise InputError(f"{label}: standard input is larger than {_size(limit)}")
        return data
    fd = _open_regular(path, label, secret=secret, limit=limit)
    try:
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # the file grew while being read
                raise InputError(f"{label}: larger than {_size(limit)}", path=path)
        return b"".join(chunks)
    except OSError as exc:
        raise InputError(f"{label}: cannot read: {exc.strerror or exc}", path=path) from None
    finally:
        os.close(fd)


def _open_regular(path: str | Path, label: str, *, secret: bool, limit: int | None) -> int:
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (os.O_NOFOLLOW if secret else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(_open_error(label, path, exc, secret=secret), path=path) from None
    except ValueError:  # a NUL in the name: no file can have it
        raise InputError(f"{printable(label)}: not a file name (it holds a NUL byte)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{label}: {_kind(info.st_mode)}, not a regular file; give a file",
                             path=path)
        if limit is not None and info.st_size > limit:
            raise InputError(f"{label}: {info.st_size:,} bytes is larger than {_size(limit)}",
                             path=path)
        os.set_blocking(fd, True)  # a regular file: reads never wait on a writer
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_error(label: str, path: str | Path, exc: OSError, *, secret: bool) -> str:
    if exc.errno == errno.ELOOP and secret:
        return (f"{label}: is a symbolic link; key material is never read through one: "
                "give the file itself")
    if exc.errno == errno.ENXIO:  # a socket, or a FIFO with no writer on some systems
        return f"{label}: not a regular file; give a file"
    return f"{label}: cannot read: {exc.strerror or exc}"


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))
    return next((text for test, text in kinds if test(mode)), "a special file")


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit:,} bytes"
