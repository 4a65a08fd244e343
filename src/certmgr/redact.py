"""The one place that takes secrets out of what certmgr prints.

Everything certmgr shows goes through :func:`text` on its way out: the CLI's
consoles, ``--json`` documents and error lines, notices, metrics. It removes

* the password in any URL (``https://user:pass@host`` -> ``https://user:***@host``),
* ``password=``/``token=``/``secret=``/``key=``-style values in query strings and
  ``key=value`` text,
* every value registered with :func:`remember`: secrets certmgr loaded (SMTP and
  webhook passwords and tokens, secret webhook paths, keystore passwords, a
  database URL's password, passphrases), wherever they appear.

:func:`url` and :func:`headers` are for the places that show a URL or headers
on purpose: a URL is shown as scheme, host and port only, a header value that
can carry a credential as ``***``.

This module imports nothing from certmgr: every layer may use it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = ["MASK", "data", "forget_all", "headers", "json_text", "remember", "text", "url"]

MASK = "***"

# Shorter values would mask ordinary words; certmgr's own secrets are longer.
_MIN_SECRET = 4

_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()

# user:password@ in a URL: the password goes (a user name alone, as in ssh://root@h, stays).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s@?#:]*):[^/\s@?#]*@")
_KEY_VALUE = re.compile(
    r"(?i)\b((?:[a-z0-9_\-]*(?:password|passwd|passphrase|secret|token|api[_\-]?key|"
    r"access[_\-]?key|auth))\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,\"']+)")
_AUTH_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization|cookie|x-api-key)"
                          r"(\s*[:=]\s*)[^\r\n,}]+")
_SENSITIVE_HEADER = re.compile(r"(?i)authorization|cookie|token|secret|key|passw|signature|"
                               r"session|auth")


def remember(*secrets: str | bytes | None) -> None:
    """Register values that must never be printed (empty and very short ones are ignored)."""
    global _pattern
    added = False
    with _lock:
        for secret in secrets:
            if isinstance(secret, bytes):
                secret = secret.decode("utf-8", "replace")
            if secret is None:
                continue
            for value in {secret, secret.strip()}:
                if len(value) >= _MIN_SECRET and value not in _secrets:
                    _secrets.add(value)
                    added = True
        if added:
            # Longest first: a secret that contains another is masked whole.
            alternatives = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def forget_all() -> None:
    """Drop every remembered secret (for tests that run many configurations in one process)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


# What each pattern needs somewhere in the text (case-folded) before it can match: a
# keyword followed by optional spaces and "=" or ":". Checking that first keeps a large
# document with nothing to redact (a scan's --json over thousands of endpoints) at a few
# milliseconds, where the patterns themselves take a tenth of a second per megabyte.
_KEY_VALUE_WORDS = ("password", "passwd", "passphrase", "secret", "token", "apikey",
                    "api_key", "api-key", "accesskey", "access_key", "access-key", "auth")
_AUTH_HEADER_WORDS = ("authorization", "cookie", "x-api-key")


def _keyword_then_separator(folded: str, words: tuple[str, ...]) -> bool:
    for word in words:
        at = folded.find(word)
        while at >= 0:
            end = at + len(word)
            while end < len(folded) and folded[end].isspace():
                end += 1
            if end < len(folded) and folded[end] in "=:":
                return True
            at = folded.find(word, at + 1)
    return False


def text(value: str) -> str:
    """``value`` with URL user information, credential-like ``key=value`` pairs and every
    remembered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is not None:
        value = pattern.sub(MASK, value)
    if "@" in value and "://" in value:
        value = _USERINFO.sub(rf"\1:{MASK}@", value)
    folded = value.casefold()
    if _keyword_then_separator(folded, _AUTH_HEADER_WORDS):
        value = _AUTH_HEADER.sub(rf"\1\2{MASK}", value)
    if _keyword_then_separator(folded, _KEY_VALUE_WORDS):
        value = _KEY_VALUE.sub(rf"\1{MASK}", value)
    return value


def data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings...) with :func:`text` applied to every string
    in it: redacted one string at a time, so the structure (and its JSON) stays valid."""
    if isinstance(value, str):
        return text(value)
    if isinstance(value, dict):
        return {data(k): data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [data(v) for v in value]
    return value


def json_text(encoded: str, *, indent: int | None = None) -> str:
    """A JSON document's text, redacted; still JSON (see :func:`data`).

    Most documents hold nothing to redact: one pass of :func:`text` over the whole
    text tells, and only a document that changes is decoded and redacted string by
    string.
    """
    if text(encoded) == encoded:
        return encoded
    return json.dumps(data(json.loads(encoded)), indent=indent)


def url(value: str) -> str:
    """A URL as it may be shown: scheme, host and port; user, path and query left out
    (a webhook's path is often its secret). Not a URL: the text, redacted."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return text(value)
    if not parts.scheme or not parts.hostname:
        return text(value)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = f"{parts.scheme}://{host}{'' if port is None else f':{port}'}"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        shown += f"/{MASK}"
    return text(shown)


def headers(values: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Header name -> value as it may be shown: values of credential-like names masked."""
    items = values.items() if isinstance(values, Mapping) else values
    return {name: MASK if _SENSITIVE_HEADER.search(name) else text(value)
            for name, value in items}
