"""dns-01 through the DNS providers admins use (Cloudflare, Route 53, OVH, Gandi,
PowerDNS, a local zone file... about a hundred) by dns-lexicon.

The provider's options (API tokens, a zone file's name) come from the definition's
credentials file (``key = value`` lines, stored encrypted) or from lexicon's
environment variables (``LEXICON_<PROVIDER>_<OPTION>``), never from the command line.
The zone is the owner of the SOA for the name; certmgr waits until the zone's
authoritative servers (``--dns-server``, else the zone's NS) answer the TXT value.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from josepy.jwk import JWK

from certmgr.errors import InputError, IssuanceError

__all__ = ["LexiconDns", "check_provider", "parse_credentials"]

_PROVIDER = re.compile(r"[a-z][a-z0-9_]{0,39}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
CREDENTIALS_MAX = 16 * 1024


def check_provider(name: str) -> str:
    """``name`` if dns-lexicon has that provider.

    Raises:
        InputError: not a provider name, unknown to lexicon, or lexicon not installed.
    """
    if not _PROVIDER.fullmatch(name):
        raise InputError(f"--dns-provider {name!r}: a provider name is lower-case letters, "
                         "digits and _ (cloudflare, route53, ovh...)")
    # Looked up without importing lexicon (see _import_lexicon): its providers are files.
    spec = importlib.util.find_spec("lexicon")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("--dns-provider needs dns-lexicon: pip install dns-lexicon")
    found = any((Path(d) / "_private" / "providers" / f"{name}.py").is_file()
                for d in spec.submodule_search_locations)
    if not found or name == "auto":
        raise InputError(f"--dns-provider {name!r}: dns-lexicon has no such provider (see "
                         "`lexicon --help` for the list)")
    return name


def _import_lexicon() -> None:
    """Import lexicon, without the deprecated alias modules it puts in ``sys.modules``
    (``lexicon.cli``, ``.parser``, ``.discovery``): certmgr uses none of them, and each
    warns on any attribute read, as by anything that walks ``sys.modules``."""
    import sys

    import lexicon

    for alias in ("lexicon.cli", "lexicon.parser", "lexicon.discovery"):
        if isinstance(sys.modules.get(alias), lexicon.DeprecatedModule):
            del sys.modules[alias]


def parse_credentials(text: str, source: str) -> dict[str, str]:
    """The ``key = value`` lines of a credentials file (``#`` comments, blank lines).

    Raises:
        InputError: a line that is not ``key = value``; the value is never shown.
    """
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().lower().replace("-", "_"), value.strip().strip('"')
        if not sep or not _KEY.fullmatch(key) or not value:
            raise InputError(f"--dns-credentials {source}: line {number} is not `option = "
                             "value` (lexicon's option names, e.g. auth_token = ...)")
        out[key] = value
    return out


@dataclass
class LexiconDns:
    """dns-01 answered by TXT records that dns-lexicon's ``provider`` creates and deletes."""

    provider: str
    options: dict[str, str] = field(repr=False)
    server: tuple[str, int] | None = None  # the authoritative server to check; else NS
    kind: str = "dns-01"
    timeout: float = 120.0
    _records: list[tuple[str, str, str]] = field(default_factory=list)  # zone, fqdn, value

    def _client(self, zone: str) -> Any:
        _import_lexicon()
        from lexicon.config import ConfigResolver

        config = ConfigResolver().with_dict(  # type: ignore[no-untyped-call]
            {"provider_name": self.provider, "domain": zone.rstrip("."), "ttl": 60,
             self.provider: dict(self.options)}).with_env()
        module = importlib.import_module(f"lexicon._private.providers.{self.provider}")
        client = module.Provider(config)
        try:
            client.authenticate()
        except Exception as exc:  # noqa: BLE001 - every provider raises its own errors
            raise IssuanceError(f"dns-01 by {self.provider}: cannot use zone {zone}: "
                                f"{type(exc).__name__}: {exc}") from None
        return client

    def _zone(self, fqdn: str) -> str:
        import dns.exception
        import dns.resolver

        if self.server is not None:
            from certmgr.issuers.acme_challenges import DnsUpdate

            return DnsUpdate(*self.server, key=("", "", ""))._zone(fqdn)
        try:
            return str(dns.resolver.zone_for_name(fqdn))
        except dns.exception.DNSException as exc:
            raise IssuanceError(f"dns-01: no zone found for {fqdn}: {exc}") from None

    def publish(self, name: str, challenge: Any, key: JWK) -> Any:
        response, validation = challenge.response_and_validation(key)
        fqdn = challenge.validation_domain_name(name.removeprefix("*.")).rstrip(".")
        zone = self._zone(fqdn + ".")
        try:
            self._client(zone).create_record("TXT", fqdn, validation)
        except IssuanceError:
            raise
        except Exception as exc:  # noqa: BLE001 - every provider raises its own errors
            raise IssuanceError(f"dns-01 by {self.provider}: creating the TXT record of "
                                f"{fqdn} failed: {type(exc).__name__}: {exc}") from None
        self._records.append((zone, fqdn, validation))
        return response

    def _servers(self, zone: str) -> list[tuple[str, int]]:
        if self.server is not None:
            return [self.server]
        import dns.exception
        import dns.resolver

        try:
            names = [str(r.target) for r in dns.resolver.resolve(zone, "NS")]
            return [(str(a), 53) for n in names for a in dns.resolver.resolve(n, "A")]
        except dns.exception.DNSException as exc:
            raise IssuanceError(f"dns-01: the servers of {zone} cannot be found: {exc}") \
                from None

    def ready(self) -> None:
        """Query the zone's authoritative servers until each answers every TXT value."""
        from certmgr.issuers.acme_challenges import DnsUpdate

        deadline = time.monotonic() + self.timeout
        for zone, fqdn, value in self._records:
            for host, port in self._servers(zone):
                probe = DnsUpdate(host, port, key=("", "", ""))
                pause = 0.02
                while value not in probe._txt(fqdn + "."):
                    if time.monotonic() > deadline:
                        raise IssuanceError(f"dns-01: {fqdn} TXT not served by {host}:{port} "
                                            f"after {self.timeout:.0f} s")
                    time.sleep(pause)
                    pause = min(pause * 2, 1.0)

    def cleanup(self) -> None:
        for zone, fqdn, value in self._records:
            with contextlib.suppress(Exception):
                self._client(zone).delete_record(None, "TXT", fqdn, value)
        self._records = []
