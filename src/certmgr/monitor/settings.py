"""The monitor's configuration: ``<home>/monitor.toml`` and the defaults.

Layers: :func:`load_settings` reads and validates the TOML (one
:class:`~certmgr.errors.InputError` naming the file and key for anything
wrong); the values are frozen dataclasses that the scheduler, the renewal
engine and the notifiers take as they are. Command-line options override
single fields with :func:`dataclasses.replace`.

Secrets (SMTP passwords, webhook tokens, headers and URLs) need not be written
in the TOML itself: they come from a file (``password_file``, ``token_file``,
``url_file``, ``headers_file``) that only its owner may read (mode 0600, see
:mod:`certmgr.secretfiles`), an environment variable (``password_env``,
``token_env``, ``url_env``), or ``${NAME}`` inside a webhook's ``url`` or header
values; so the configuration can be shown and backed up freely. Every secret
read is remembered by :mod:`certmgr.redact` and never printed.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from certmgr import redact
from certmgr.errors import InputError, UsageError
from certmgr.inputs import (
    CONCURRENCY,
    EXPIRY_WINDOW,
    HISTORY,
    MONITOR_PERIOD,
    PORT,
    TIMEOUT,
    Range,
    bounded_duration,
    control_characters,
    read_user_file,
    refuse_control,
)
from certmgr.secretfiles import read_secret_file

__all__ = [
    "CONFIG_NAME",
    "EmailChannel",
    "MonitorSettings",
    "RetrySettings",
    "WebhookChannel",
    "format_duration",
    "load_settings",
    "parse_duration",
    "parse_listen",
]

CONFIG_NAME = "monitor.toml"

T = TypeVar("T")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | int | float, *, what: str = "duration",
                   rng: Range = MONITOR_PERIOD) -> timedelta:
    """``"90s"``, ``"5m"``, ``"1h30m"``, ``"30d"``, or a number of seconds -> timedelta.

    Raises:
        UsageError: the text is not a positive duration, or it is outside ``rng``.
    """
    if isinstance(text, bool):
        raise UsageError(f"{what} {text!r} is not a duration: use e.g. 90s, 5m, 12h, 30d")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        spec = text.strip().lower()
        if len(spec) > 64:
            raise UsageError(f"{what} {text[:40]!r}...: too long for a duration")
        if re.fullmatch(r"\d+(?:\.\d+)?", spec):
            seconds = float(spec)
        elif spec and _DURATION.sub("", spec) == "":
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(spec))
        else:
            raise UsageError(f"{what} {text!r} is not a duration: use e.g. 90s, 5m, 12h, 30d")
    if seconds <= 0:
        raise UsageError(f"{what} {text!r} must be longer than zero")
    try:
        return bounded_duration(seconds, rng, f"{what} {text!r}")
    except InputError as exc:  # this module's callers expect UsageError
        raise UsageError(exc.message) from None


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling in the largest units: ``timedelta(days=30)`` -> ``30d``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_listen(text: str) -> tuple[str, int]:
    """``127.0.0.1:9464``, ``[::1]:9464`` or ``:9464`` (loopback) -> (address, port).

    Only loopback addresses are accepted: the metrics carry the fleet's
    certificate inventory and are meant for a local Prometheus or a proxy.

    Raises:
        UsageError: not ``ADDRESS:PORT``, or the address is not loopback.
    """
    match = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", text.strip())
    if not match:
        raise UsageError(f"metrics listen address {text!r}: use ADDRESS:PORT, "
                         "e.g. 127.0.0.1:9464")
    address, port = match.group(1) or "127.0.0.1", int(match.group(2))
    if address == "localhost":
        address = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(address).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(f"metrics listen address {text!r}: only loopback addresses "
                         "(127.0.0.0/8, ::1) are allowed; put a proxy in front for remote scrapes")
    if not 0 <= port < 65536:
        raise UsageError(f"metrics listen address {text!r}: port out of range")
    return address, port


def _check_timeout(value: float) -> None:
    # NaN and inf are floats too, and neither bounds anything.
    if value not in TIMEOUT:
        raise ValueError(f"timeout {value!r} must be from {TIMEOUT.describe()} "
                         "(seconds for the whole delivery)")


@dataclass(frozen=True)
class EmailChannel:
    """Email over SMTP: ``security`` is ``starttls`` (default), ``tls`` or ``none``."""

    name: str
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)
        if self.port not in PORT:
            raise ValueError(f"port {self.port!r} must be from {PORT.describe()}")
        if self.security not in ("starttls", "tls", "none"):
            raise ValueError(f"security must be starttls, tls or none, not {self.security!r}")
        if self.username and self.security == "none":
            raise ValueError("a username without TLS would send the password in clear text: "
                             "set security = \"starttls\" or \"tls\"")
        if self.username and self.password is None:
            raise ValueError("username given without password_file or password_env")
        if not self.recipients:
            raise ValueError("no recipients: set to = [\"ops@example.com\", ...]")


@dataclass(frozen=True)
class WebhookChannel:
    """A JSON POST to ``url``; ``headers`` may carry a token (``token_env``/``token_file``)."""

    name: str
    url: str
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    ca_file: str | None = None
    timeout: float = 15.0

    def __post_init__(self) -> None:
        _check_timeout(self.timeout)
        if not re.match(r"https?://[^/\s]+", self.url) or control_characters(self.url):
            raise ValueError(f"url {redact.url(self.url)!r} must be http://HOST/... or "
                             "https://HOST/..., without control characters")


@dataclass(frozen=True)
class RetrySettings:
    """Exponential back-off for failed renewals: base * 2**(failures-1), capped, with jitter."""

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=6)
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be at least 0 and below 1")
        if self.cap < self.base:
            raise ValueError("retry_max must not be shorter than retry_base")


@dataclass(frozen=True)
class MonitorSettings:
    """Everything ``certmgr monitor`` needs besides the repository."""

    interval: timedelta = timedelta(minutes=5)
    expiry_warning: timedelta = timedelta(days=30)
    repeat: timedelta = timedelta(days=1)
    metrics_listen: str | None = None
    history: int = 100
    probe_timeout: timedelta = timedelta(seconds=10)
    concurrency: int = 64
    renew: bool = True
    announce_renewals: bool = True
    retry: RetrySettings = field(default_factory=RetrySettings)
    email: tuple[EmailChannel, ...] = ()
    webhooks: tuple[WebhookChannel, ...] = ()
    source: str | None = None  # the file the settings came from, for messages

    @property
    def channels(self) -> tuple[EmailChannel | WebhookChannel, ...]:
        return (*self.email, *self.webhooks)


def load_settings(home: Path, path: Path | None = None,
                  environ: Mapping[str, str] | None = None) -> MonitorSettings:
    """Read ``path`` (default ``<home>/monitor.toml``; absent means all defaults).

    Raises:
        InputError: the file cannot be parsed, or a key has a wrong value; the
            message names the file and the key.
    """
    env = os.environ if environ is None else environ
    explicit = path is not None
    file = path if path is not None else home / CONFIG_NAME
    if not file.exists() and not file.is_symlink():
        if explicit:
            raise InputError(f"{file}: no such monitor configuration file", path=file)
        return MonitorSettings()
    raw = read_user_file(file, limit=1024 * 1024)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{file}: cannot read: {exc}", path=file) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{file}: not valid TOML: {exc}", path=file) from None
    return _Reader(file, env).settings(data)


class _Reader:
    """Turns parsed TOML into settings; every error names the file and the key."""

    def __init__(self, file: Path, env: Mapping[str, str]) -> None:
        self.file = file
        self.env = env

    def fail(self, key: str, why: str) -> InputError:
        return InputError(f"{self.file}: {key}: {why}", path=self.file)

    def settings(self, data: dict[str, Any]) -> MonitorSettings:
        unknown = set(data) - {"monitor", "renewal", "notify"}
        if unknown:
            raise self.fail(sorted(unknown)[0], "unknown section (known: monitor, renewal, notify)")
        mon = self.table(data, "monitor")
        ren = self.table(data, "renewal")
        notify = self.table(data, "notify")
        self.known(mon, "monitor", {"interval", "expiry_warning", "repeat", "metrics_listen",
                                    "history", "probe_timeout", "concurrency"})
        self.known(ren, "renewal", {"enabled", "notify", "retry_base", "retry_max", "jitter"})
        self.known(notify, "notify", {"email", "webhook"})
        window = EXPIRY_WINDOW
        defaults = MonitorSettings()
        listen = mon.get("metrics_listen")
        if listen is not None:
            self.guard("monitor.metrics_listen", lambda: parse_listen(str(listen)))
        retry = self.guard("renewal", lambda: RetrySettings(
            base=self.duration(ren, "renewal.retry_base", defaults.retry.base),
            cap=self.duration(ren, "renewal.retry_max", defaults.retry.cap),
            jitter=float(ren.get("jitter", defaults.retry.jitter))))
        return MonitorSettings(
            interval=self.duration(mon, "monitor.interval", defaults.interval),
            expiry_warning=self.duration(mon, "monitor.expiry_warning", defaults.expiry_warning,
                                         window),
            repeat=self.duration(mon, "monitor.repeat", defaults.repeat),
            metrics_listen=str(listen) if listen is not None else None,
            history=self.positive(mon, "monitor.history", defaults.history, HISTORY),
            probe_timeout=self.duration(mon, "monitor.probe_timeout", defaults.probe_timeout,
                                        TIMEOUT),
            concurrency=self.positive(mon, "monitor.concurrency", defaults.concurrency,
                                      CONCURRENCY),
            renew=bool(ren.get("enabled", True)),
            announce_renewals=bool(ren.get("notify", True)),
            retry=retry,
            email=tuple(self.email(i, t) for i, t in enumerate(self.tables(notify, "email"))),
            webhooks=tuple(self.webhook(i, t)
                           for i, t in enumerate(self.tables(notify, "webhook"))),
            source=str(self.file),
        )

    def email(self, index: int, t: dict[str, Any]) -> EmailChannel:
        key = f"notify.email[{index}]"
        self.known(t, key, {"name", "host", "port", "security", "username", "password_file",
                            "password_env", "from", "to", "ca_file", "timeout"})
        for required in ("host", "from", "to"):
            if required not in t:
                raise self.fail(f"{key}.{required}", "missing")
        security = str(t.get("security", "starttls"))
        port = self.positive(t, f"{key}.port", 465 if security == "tls" else 587, PORT)
        to = t["to"] if isinstance(t["to"], list) else [t["to"]]
        return self.guard(key, lambda: EmailChannel(
            name=str(t.get("name", f"email-{index + 1}")), host=self.text(t, f"{key}.host"),
            port=port,
            sender=str(t["from"]), recipients=tuple(str(r) for r in to), security=security,
            username=t.get("username"), password=self.secret(t, key, "password"),
            ca_file=t.get("ca_file"), timeout=self.number(t, f"{key}.timeout", 30)))

    def webhook(self, index: int, t: dict[str, Any]) -> WebhookChannel:
        key = f"notify.webhook[{index}]"
        self.known(t, key, {"name", "url", "url_file", "url_env", "headers", "headers_file",
                            "token_file", "token_env", "ca_file", "timeout"})
        url = self.webhook_url(t, key)
        headers = {str(k): self.expand(str(v), f"{key}.headers.{k}")
                   for k, v in self.table(t, "headers").items()}
        if "headers_file" in t:
            headers.update(self.headers_file(str(t["headers_file"]), f"{key}.headers_file"))
        token = self.secret(t, key, "token")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        # Values of credential-like headers (Authorization, X-Api-Key...) are secrets
        # wherever they came from; ${NAME} values and headers_file lines were remembered
        # when read.
        redact.remember(*(v for k, v in headers.items() if redact.headers({k: v})[k] != v))
        return self.guard(key, lambda: WebhookChannel(
            name=str(t.get("name", f"webhook-{index + 1}")), url=url,
            headers=tuple(sorted(headers.items())), ca_file=t.get("ca_file"),
            timeout=self.number(t, f"{key}.timeout", 15)))

    def webhook_url(self, t: dict[str, Any], key: str) -> str:
        """``url`` (``${NAME}`` expanded), or the secret ``url_env``/``url_file``."""
        given = [name for name in ("url", "url_env", "url_file") if name in t]
        if len(given) != 1:
            raise self.fail(f"{key}.url", "missing" if not given else
                            f"give one of url, url_env, url_file, not {' and '.join(given)}")
        if "url" in t:
            raw = str(t["url"])
            url = self.expand(raw, f"{key}.url")
            secret_parts = url != raw
        else:
            url = (self.secret(t, key, "url") or "").strip()
            secret_parts = True
        parts = urllib.parse.urlsplit(url)
        redact.remember(parts.password, urllib.parse.unquote(parts.password or ""))
        if secret_parts:  # from the environment or a file: its path and query are secret too
            redact.remember(parts.path + (f"?{parts.query}" if parts.query else ""),
                            parts.query)
        return url

    def expand(self, value: str, key: str) -> str:
        """``${NAME}`` -> the environment variable's value (remembered as a secret)."""
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise self.fail(key, f"environment variable {name} is not set")
            redact.remember(self.env[name])
            return self.env[name]

        return _ENV_REF.sub(one, value)

    def headers_file(self, file: str, key: str) -> dict[str, str]:
        """``Name: value`` lines of a 0600 file (blank lines and ``#`` comments skipped)."""
        try:
            text = read_secret_file(file, what="headers")
        except InputError as exc:
            raise self.fail(key, exc.message) from None
        out = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, colon, value = line.partition(":")
            if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name.strip()):
                raise self.fail(key, f"{file} line {number} is not a 'Name: value' header")
            out[name.strip()] = value.strip()
        return out

    def secret(self, t: dict[str, Any], key: str, what: str) -> str | None:
        if f"{what}_env" in t:
            name = str(t[f"{what}_env"])
            if name not in self.env:
                raise self.fail(f"{key}.{what}_env", f"environment variable {name} is not set")
            redact.remember(self.env[name])
            return self.env[name]
        if f"{what}_file" in t:
            secret_file = Path(str(t[f"{what}_file"]))
            try:
                return read_secret_file(secret_file, what=what).strip()
            except InputError as exc:
                raise self.fail(f"{key}.{what}_file", exc.message) from None
        return None

    def duration(self, t: dict[str, Any], key: str, default: timedelta,
                 rng: Range = MONITOR_PERIOD) -> timedelta:
        name = key.rsplit(".", 1)[-1]
        if name not in t:
            return default
        return self.guard(key, lambda: parse_duration(t[name], what=key, rng=rng))

    def positive(self, t: dict[str, Any], key: str, default: int, rng: Range) -> int:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if not isinstance(value, int) or isinstance(value, bool) or value not in rng:
            raise self.fail(key, f"{value!r} is not a whole number from {rng.describe()}")
        return value

    def number(self, t: dict[str, Any], key: str, default: float) -> float:
        value = t.get(key.rsplit(".", 1)[-1], default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(key, f"{value!r} is not a number of seconds")
        return float(value)

    def text(self, t: dict[str, Any], key: str) -> str:
        value = t.get(key.rsplit(".", 1)[-1])
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"{value!r} is not a non-empty string")
        try:
            return refuse_control(value, "the value")
        except InputError as exc:
            raise self.fail(key, exc.message) from None

    def table(self, t: dict[str, Any], name: str) -> dict[str, Any]:
        value = t.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return value

    def tables(self, t: dict[str, Any], name: str) -> list[dict[str, Any]]:
        value = t.get(name, [])
        if isinstance(value, dict):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(f"notify.{name}", f"use [[notify.{name}]] tables")
        return value

    def known(self, t: dict[str, Any], where: str, names: set[str]) -> None:
        unknown = sorted(set(t) - names)
        if unknown:
            known = ", ".join(sorted(names))
            raise self.fail(f"{where}.{unknown[0]}", f"unknown key (known: {known})")

    def guard(self, key: str, build: Callable[[], T]) -> T:
        try:
            return build()
        except (ValueError, TypeError, UsageError) as exc:
            raise self.fail(key, str(exc)) from None
