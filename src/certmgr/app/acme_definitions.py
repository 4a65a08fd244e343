"""The ACME part of a definition: issuers in failover order, challenge, profile.

Stored in ``DefinitionRecord.data["acme"]``; the TSIG key of dns-01 is stored
encrypted like every key (``kind="tsig"``) and only its reference is kept. Every
value is checked whole (full-string matches, ranges) before anything is written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certmgr.errors import InputError, NotFound
from certmgr.repository.records import IssuerKind

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = ["AcmeOptions", "acme_data", "is_acme", "split_issuers"]

CHALLENGES = ("http-01", "dns-01")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]{0,127}")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})")
_PROFILE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PORT = re.compile(r"[0-9]{1,5}")
TSIG_MAX = 4096


@dataclass(frozen=True)
class AcmeOptions:
    """What ``define``/``edit``/``apply`` were given for ACME (None: not given)."""

    challenge: str | None = None
    webroot: str | None = None
    standalone_port: str | None = None
    dns_server: str | None = None
    tsig_key: Path | None = None
    profile: str | None = None
    dns_hook: str | None = None
    dns_provider: str | None = None
    dns_credentials: Path | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.challenge, self.webroot, self.standalone_port,
                                           self.dns_server, self.tsig_key, self.profile,
                                           self.dns_hook, self.dns_provider,
                                           self.dns_credentials))


def split_issuers(text: str) -> list[str]:
    """``NAME[,NAME2...]`` -> names, each checked."""
    names = [n.strip() for n in text.split(",")]
    if not names or len(names) > 8:
        raise InputError(f"--issuer {text!r}: give 1-8 issuer names separated by commas")
    for name in names:
        if not _NAME.fullmatch(name) or ".." in name:
            raise InputError(f"--issuer {text!r}: {name!r} is not an issuer name")
    if len(set(names)) != len(names):
        raise InputError(f"--issuer {text!r}: an issuer is named twice")
    return names


def is_acme(repo: Repository, issuers: Sequence[str], options: AcmeOptions) -> bool:
    """A definition is ACME when ACME options are given or its first issuer is ACME."""
    if options.given or len(issuers) > 1:
        return True
    try:
        return repo.get_issuer(issuers[0]).kind is IssuerKind.ACME
    except NotFound:
        return False


def _port(text: str, what: str) -> int:
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise InputError(f"{what}: port {text!r} must be a number from 1 to 65535")
    return int(text)


def _address(text: str, what: str) -> str:
    bare = text.strip("[]")
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    if not _HOST.fullmatch(text) or ".." in text:
        raise InputError(f"{what}: {text!r} is not an IP address or host name")
    return text


def _standalone(text: str) -> tuple[str, int]:
    """``PORT`` or ``ADDRESS:PORT`` (the address the responder listens on; default all)."""
    address, sep, port = text.rpartition(":")
    if len(text) > 300:
        raise InputError("--standalone-port: too long; give [ADDRESS:]PORT")
    return (_address(address, "--standalone-port") if sep else ""), _port(port,
                                                                          "--standalone-port")


def _dns_server(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or len(text) > 300:
        raise InputError(f"--dns-server {text!r}: give HOST:PORT of the zone's primary server")
    return f"{_address(host, '--dns-server')}:{_port(port, '--dns-server')}"


def _webroot(text: str) -> str:
    if (not text.startswith("/") or len(text) > 4096 or "\x00" in text
            or any(p == ".." for p in text.split("/"))):
        raise InputError(f"--webroot {text!r}: give the web server's document root as an "
                         "absolute path without '..'")
    return text.rstrip("/") or "/"


def _hook(text: str) -> str:
    """A hook command line: split like a shell would, run without one."""
    import shlex

    if not text.strip() or len(text) > 1024 or any(c in text for c in "\x00\n\r"):
        raise InputError("--dns-hook: give one command line of at most 1024 characters")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise InputError(f"--dns-hook {text!r}: {exc}") from None
    if not argv[0].startswith("/"):
        raise InputError(f"--dns-hook {text!r}: give the program's absolute path")
    return text


def _tsig(repo: Repository, path: Path, stored: str | None) -> str:
    from certmgr.issuers.acme_challenges import parse_tsig_key

    try:
        if path.is_symlink():
            raise InputError(f"--tsig-key {path}: is a symbolic link; give the key file itself")
        if path.stat().st_size > TSIG_MAX:
            raise InputError(f"--tsig-key {path}: larger than {TSIG_MAX} bytes; give a TSIG "
                             "key file")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--tsig-key {path}: cannot read: {exc.strerror}") from None
    parse_tsig_key(data.decode("ascii", "replace"), str(path))
    if stored is not None and repo.load_private_key(
            stored, reason="compare with --tsig-key") == data:
        return stored  # the same key again (apply run twice): nothing changes
    return repo.store_private_key(data, kind="tsig")


def _credentials(repo: Repository, path: Path, stored: str | None) -> str:
    from certmgr.inputs import read_user_file
    from certmgr.issuers.acme_lexicon import CREDENTIALS_MAX, parse_credentials

    data = read_user_file(path, name=f"--dns-credentials {path}", limit=CREDENTIALS_MAX,
                          secret=True)
    parse_credentials(data.decode("utf-8", "replace"), str(path))
    if stored is not None and repo.load_private_key(
            stored, reason="compare with --dns-credentials") == data:
        return stored  # the same file again (apply run twice): nothing changes
    return repo.store_private_key(data, kind="dnscred")


def _dns_provider(data: dict[str, Any], options: AcmeOptions) -> None:
    """``--dns-provider`` (lexicon): excludes RFC 2136's TSIG key and the hook."""
    from certmgr.issuers.acme_lexicon import check_provider

    if options.dns_provider is not None:
        if options.dns_hook is not None or options.tsig_key is not None:
            raise InputError("--dns-provider excludes --dns-hook and --tsig-key: give one way")
        data["dns_provider"] = check_provider(options.dns_provider)
        for key in ("dns_hook", "tsig_key_ref"):
            data.pop(key, None)
    elif options.dns_hook is not None or options.tsig_key is not None:
        for key in ("dns_provider", "dns_credentials_ref"):
            data.pop(key, None)
    if options.dns_credentials is not None and "dns_provider" not in data:
        raise InputError("--dns-credentials is for --dns-provider NAME")


def acme_data(repo: Repository, name: str, issuers: Sequence[str], options: AcmeOptions,
              *, old: Mapping[str, Any] | None = None, names: Sequence[str] = (),
              validity_set: bool, renew_before_set: bool) -> dict[str, Any]:
    """The checked ``data["acme"]`` of definition ``name`` (``old``: the stored one, edited).

    Raises:
        InputError: a bad value, a missing companion option, or a wildcard name without dns-01.
    """
    data: dict[str, Any] = dict(old or {})
    data["issuers"] = list(issuers)
    if options.challenge is not None:
        if options.challenge not in CHALLENGES:
            raise InputError(f"--challenge {options.challenge!r}: use http-01 or dns-01")
        if options.challenge != data.get("challenge"):
            for key in ("webroot", "standalone_port", "standalone_address", "dns_server",
                        "tsig_key_ref", "dns_hook", "dns_provider", "dns_credentials_ref"):
                data.pop(key, None)
        data["challenge"] = options.challenge
    data.setdefault("challenge", "http-01")
    if options.webroot is not None and options.standalone_port is not None:
        raise InputError("--webroot and --standalone-port exclude each other: give one")
    if options.webroot is not None:
        data["webroot"] = _webroot(options.webroot)
        data.pop("standalone_port", None)
        data.pop("standalone_address", None)
    if options.standalone_port is not None:
        data["standalone_address"], data["standalone_port"] = _standalone(options.standalone_port)
        data.pop("webroot", None)
    if options.dns_server is not None and options.dns_hook is not None:
        raise InputError("--dns-server and --dns-hook exclude each other: give one")
    if options.dns_server is not None:
        data["dns_server"] = _dns_server(options.dns_server)
        data.pop("dns_hook", None)
    _dns_provider(data, options)
    if options.dns_hook is not None:
        data["dns_hook"] = _hook(options.dns_hook)
        for key in ("dns_server", "tsig_key_ref"):
            data.pop(key, None)
    if options.profile is not None:
        if not _PROFILE.fullmatch(options.profile):
            raise InputError(f"--profile {options.profile!r}: a profile name is 1-64 letters, "
                             "digits, . _ -")
        data["profile"] = options.profile
    if data["challenge"] == "http-01":
        if (options.dns_server is not None or options.tsig_key is not None
                or options.dns_hook is not None or options.dns_provider is not None
                or options.dns_credentials is not None):
            raise InputError("--dns-server, --tsig-key, --dns-hook, --dns-provider and "
                             "--dns-credentials are for --challenge dns-01")
        wild = [n for n in names if n.startswith("*.")]
        if wild:
            raise InputError(f"definition {name}: wildcard names ({', '.join(wild)}) can only be "
                             "validated by dns-01: add --challenge dns-01")
    else:
        if options.webroot is not None or options.standalone_port is not None:
            raise InputError("--webroot and --standalone-port are for --challenge http-01")
        if "dns_hook" in data:
            if options.tsig_key is not None:
                raise InputError("--tsig-key is for --dns-server, not --dns-hook")
        elif "dns_provider" in data:
            pass  # its credentials come from --dns-credentials or lexicon's environment
        elif options.tsig_key is None and "tsig_key_ref" not in data:
            raise InputError(f"definition {name}: dns-01 needs --dns-server HOST:PORT with "
                             "--tsig-key FILE, or --dns-hook CMD")
        elif "dns_server" not in data:
            raise InputError(f"definition {name}: dns-01 needs --dns-server HOST:PORT")
    if options.tsig_key is not None:
        data["tsig_key_ref"] = _tsig(repo, options.tsig_key, data.get("tsig_key_ref"))
    if options.dns_credentials is not None:
        data["dns_credentials_ref"] = _credentials(repo, options.dns_credentials,
                                                   data.get("dns_credentials_ref"))
    data["validity_set"] = validity_set or bool(data.get("validity_set"))
    data["renew_before_set"] = renew_before_set or bool(data.get("renew_before_set"))
    return data
