"""The ``[ldap]`` table of ``certmgr web --ldap FILE``: where the directory is, how a
user's entry is found, which groups give which role. Read once at start; every value
is bounded and a bad one is refused with one line naming the file and the key.

```toml
[ldap]
url = "ldap://ldap.example.com"        # StartTLS on 389 (or ldaps://, TLS from the start)
ca_file = "/etc/certmgr/ldap-ca.pem"   # the CA(s) the directory's certificate must chain to
timeout = 10                           # seconds for connect + StartTLS + binds + searches
user_dn = "uid={username},ou=people,dc=example,dc=com"   # or [ldap.search]
group_base = "ou=groups,dc=example,dc=com"

[[ldap.group]]
dn = "cn=certmgr-admins,ou=groups,dc=example,dc=com"
role = "admin"
```

See docs/web-ldap.md for the whole table.
"""

from __future__ import annotations

import os
import re
import ssl
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from certmgr import redact
from certmgr.errors import InputError
from certmgr.inputs import read_user_file
from certmgr.secretfiles import read_secret_file

__all__ = ["GroupRule", "LdapConfig", "ServiceAccount", "load_ldap_config"]

ROLES = ("viewer", "operator", "admin")
MAX_TIMEOUT = 60.0
MAX_GROUPS = 64
MAX_DN = 1024
_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_PATTERN = re.compile(r"[A-Za-z0-9_.:@/*?\[\]!-]{1,255}")
# A DN as admins write them: attribute=value pairs; no control characters.
_DN = re.compile(r"[A-Za-z][A-Za-z0-9-]*=[^\x00-\x1f]+")


@dataclass(frozen=True)
class GroupRule:
    """Members of the group ``dn`` get ``role`` (an operator group may add host patterns)."""

    dn: str
    role: str
    hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceAccount:
    """The account that searches for users' entries (search-then-bind). Its password is
    read from a 0600 file or an environment variable, never from the command line."""

    bind_dn: str
    password: str

    def __repr__(self) -> str:  # never shown, not even in a traceback's locals
        return f"ServiceAccount(bind_dn={self.bind_dn!r}, password='***')"


@dataclass(frozen=True)
class LdapConfig:
    """A directory to sign in against; see the module docstring."""

    url: str
    host: str
    port: int
    starttls: bool  # False: ldaps://, TLS from the first byte
    ca_file: Path
    timeout: float
    groups: tuple[GroupRule, ...]
    group_base: str
    group_filter: str = "(&(objectClass=groupOfNames)(member={dn}))"
    user_dn: str | None = None  # a template with {username}
    search_base: str | None = None
    search_filter: str = "(uid={username})"
    service: ServiceAccount | None = None


def load_ldap_config(path: Path, environ: Mapping[str, str] | None = None) -> LdapConfig:
    """Read and check the ``[ldap]`` table of ``path``.

    Raises:
        InputError: unreadable, not TOML, an unknown key, or a value out of bounds; the
            message names the file and the key.
    """
    raw = read_user_file(path, limit=256 * 1024)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML: {exc}", path=path) from None
    return _Reader(path, os.environ if environ is None else environ).config(data)


class _Reader:
    def __init__(self, file: Path, env: Mapping[str, str]) -> None:
        self.file, self.env = file, env

    def fail(self, key: str, why: str) -> InputError:
        return InputError(f"{self.file}: {key}: {why}", path=self.file)

    def known(self, table: Mapping[str, Any], where: str, keys: set[str]) -> None:
        unknown = sorted(set(table) - keys)
        if unknown:
            raise self.fail(f"{where}.{unknown[0]}",
                            f"unknown key (known: {', '.join(sorted(keys))})")

    def text(self, table: Mapping[str, Any], key: str, where: str, *, limit: int = MAX_DN,
             default: str | None = None) -> str:
        value = table.get(key, default)
        if value is None:
            raise self.fail(f"{where}.{key}", "missing")
        if not isinstance(value, str) or not 0 < len(value) <= limit or \
                any(ord(c) < 32 for c in value):
            raise self.fail(f"{where}.{key}", f"give text of 1 to {limit} characters "
                                              "without control characters")
        return value

    def dn(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = self.text(table, key, where)
        if not _DN.fullmatch(value):
            raise self.fail(f"{where}.{key}", f"{value[:80]!r} is not a DN "
                                              "(cn=certmgr,ou=groups,dc=example,dc=com)")
        return value

    def template(self, table: Mapping[str, Any], key: str, where: str, field: str,
                 default: str | None = None) -> str:
        value = self.text(table, key, where, default=default)
        try:
            names = {n for _, n, _, _ in string.Formatter().parse(value) if n}
        except ValueError:
            names = {"?"}
        if names != {field}:
            raise self.fail(f"{where}.{key}", f"{value[:80]!r}: write {{{field}}} where the "
                                              "value goes, and no other {...}")
        return value

    def config(self, data: Mapping[str, Any]) -> LdapConfig:
        unknown = sorted(set(data) - {"ldap"})
        if unknown:
            raise self.fail(unknown[0], "unknown table (known: ldap)")
        t = data.get("ldap")
        if not isinstance(t, dict):
            raise self.fail("ldap", "missing: write an [ldap] table")
        self.known(t, "ldap", {"url", "ca_file", "timeout", "user_dn", "search", "group_base",
                               "group_filter", "group"})
        url, host, port, starttls = self.url(t)
        ca_file = self.ca_file(t)
        timeout = t.get("timeout", 10)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not 0.5 <= timeout <= MAX_TIMEOUT:
            raise self.fail("ldap.timeout", f"give seconds from 0.5 to {MAX_TIMEOUT:g}")
        user_dn, search_base, search_filter, service = self.users(t)
        return LdapConfig(
            url=url, host=host, port=port, starttls=starttls, ca_file=ca_file,
            timeout=float(timeout), groups=self.groups(t), group_base=self.dn(t, "group_base",
                                                                               "ldap"),
            group_filter=self.template(t, "group_filter", "ldap", "dn",
                                       default=LdapConfig.group_filter),
            user_dn=user_dn, search_base=search_base, search_filter=search_filter,
            service=service)

    def url(self, t: Mapping[str, Any]) -> tuple[str, str, int, bool]:
        url = self.text(t, "url", "ldap", limit=300)
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("ldap", "ldaps") or not parts.hostname or port == -1 or \
                parts.path not in ("", "/") or parts.query or parts.username:
            raise self.fail("ldap.url", f"{url[:80]!r}: give ldap://HOST[:PORT] (StartTLS) or "
                                        "ldaps://HOST[:PORT]")
        starttls = parts.scheme == "ldap"
        return url, parts.hostname, port or (389 if starttls else 636), starttls

    def ca_file(self, t: Mapping[str, Any]) -> Path:
        path = Path(self.text(t, "ca_file", "ldap", limit=4096))
        try:
            ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise self.fail("ldap.ca_file", f"{path}: cannot load CA certificates from it "
                                            f"({getattr(exc, 'strerror', None) or exc}); give "
                                            "a PEM file of the CA that issued the directory's "
                                            "certificate") from None
        return path

    def users(self, t: Mapping[str, Any]
              ) -> tuple[str | None, str | None, str, ServiceAccount | None]:
        search = t.get("search")
        if ("user_dn" in t) == (search is not None):
            raise self.fail("ldap.user_dn", "give either user_dn (a DN template with "
                                            "{username}) or an [ldap.search] table")
        if "user_dn" in t:
            return self.template(t, "user_dn", "ldap", "username"), None, "", None
        if not isinstance(search, dict):
            raise self.fail("ldap.search", "must be a table")
        self.known(search, "ldap.search", {"base", "filter", "bind_dn", "password_file",
                                           "password_env"})
        service = None
        if "bind_dn" in search:
            service = ServiceAccount(self.dn(search, "bind_dn", "ldap.search"),
                                     self.password(search))
        elif "password_file" in search or "password_env" in search:
            raise self.fail("ldap.search.bind_dn", "missing: a password needs its bind_dn")
        return (None, self.dn(search, "base", "ldap.search"),
                self.template(search, "filter", "ldap.search", "username",
                              default=LdapConfig.search_filter), service)

    def password(self, search: Mapping[str, Any]) -> str:
        if ("password_file" in search) == ("password_env" in search):
            raise self.fail("ldap.search.password_file", "give either password_file (a 0600 "
                                                         "file) or password_env")
        if "password_file" in search:
            file = Path(self.text(search, "password_file", "ldap.search", limit=4096))
            value = read_secret_file(file, what="LDAP service password").strip()
        else:
            name = self.text(search, "password_env", "ldap.search", limit=128)
            if not _ENV.fullmatch(name):
                raise self.fail("ldap.search.password_env", "give an environment variable "
                                                            "name (LDAP_PASSWORD)")
            value = self.env.get(name, "")
            if not value:
                raise self.fail("ldap.search.password_env", f"${name} is not set or empty")
        if not 0 < len(value) <= 1024:
            raise self.fail("ldap.search.password_file", "the password is empty or longer "
                                                         "than 1024 characters")
        redact.remember(value)
        return value

    def groups(self, t: Mapping[str, Any]) -> tuple[GroupRule, ...]:
        rules = t.get("group")
        if not isinstance(rules, list) or not rules or len(rules) > MAX_GROUPS:
            raise self.fail("ldap.group", f"give 1 to {MAX_GROUPS} [[ldap.group]] tables "
                                          "(dn, role, optional hosts)")
        out: list[GroupRule] = []
        for i, rule in enumerate(rules):
            where = f"ldap.group[{i}]"
            if not isinstance(rule, dict):
                raise self.fail(where, "must be a table")
            self.known(rule, where, {"dn", "role", "hosts"})
            role = self.text(rule, "role", where, limit=16)
            if role not in ROLES:
                raise self.fail(f"{where}.role", f"{role!r} is not one of {', '.join(ROLES)}")
            hosts = rule.get("hosts", [])
            if not isinstance(hosts, list) or len(hosts) > 32 or not all(
                    isinstance(h, str) and _PATTERN.fullmatch(h) for h in hosts):
                raise self.fail(f"{where}.hosts", "give up to 32 host patterns (lab:web*, "
                                                  "ssh://root@mx1)")
            if hosts and role != "operator":
                raise self.fail(f"{where}.hosts", "host patterns restrict an operator group "
                                                  "only")
            out.append(GroupRule(self.dn(rule, "dn", where), role, tuple(hosts)))
        return tuple(out)
