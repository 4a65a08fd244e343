"""The web console's own certificate: an ordinary definition (``certmgr-web``, for the
host's FQDN and ``localhost``) issued by the built-in CA and renewed like every other;
or any definition the admin names."""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from certmgr.app.context import Context
from certmgr.errors import NotFound, UsageError

if TYPE_CHECKING:
    from certmgr.repository import DefinitionRecord as DefinitionRecord
    from certmgr.repository import Repository as Repository

__all__ = ["CONSOLE_DEFINITION", "ConsoleCertificate", "certificate_key", "console_certificate",
           "open_console_repository"]

CONSOLE_DEFINITION = "certmgr-web"


@dataclass(frozen=True)
class ConsoleCertificate:
    """What the console serves: the definition, its version, the chain (leaf first, PEM)
    and the key (as the repository stores it, DER or PEM; kept in memory only)."""

    definition: str
    version: int
    chain_pem: bytes
    key: bytes = b""
    issued: bool = False  # issued or renewed just now

    def __repr__(self) -> str:  # never the key
        return f"ConsoleCertificate({self.definition!r}, version {self.version})"


def open_console_repository(db: str | None, home: Path) -> Repository:
    """The repository the console runs on (created on first use), its own audit actor
    ``certmgr-web`` for what no signed-in user does (the console's certificate)."""
    from certmgr.repository import open_repository

    return open_repository(db, home, actor="certmgr-web")


def console_certificate(ctx: Context, name: str | None = None, *,
                        fqdn: str | None = None,
                        now: dt.datetime | None = None) -> ConsoleCertificate:
    """The certificate the console serves, defined and (re)issued first when ``name`` is
    None and ``certmgr-web`` has none or is due; the key read is an audit event.

    Raises:
        UsageError: a named definition does not exist or has no certificate, or the
            built-in CA is not set up (``certmgr ca init``).
    """
    from certmgr.app.certificates import issue
    from certmgr.app.definitions import define
    from certmgr.issuers import DEFAULT_RENEW_BEFORE
    from certmgr.issuers.schedule import RenewalState, renewal_state

    repo = ctx.repository()
    now = now or dt.datetime.now(dt.UTC)
    issued = False
    if name is None:
        name = CONSOLE_DEFINITION
        try:
            definition = repo.get_definition(name)
        except NotFound:
            host = fqdn or socket.getfqdn() or "localhost"
            sans = [h for h in dict.fromkeys([host, "localhost"])]
            try:
                repo.get_issuer("builtin")
            except NotFound:
                raise UsageError("the console's certificate comes from the built-in CA, "
                                 "which is not set up: run `certmgr ca init`, or give "
                                 "--certificate NAME") from None
            definition = define(ctx, name, host, sans, key="ec256",
                                validity=dt.timedelta(days=397),
                                renew_before=DEFAULT_RENEW_BEFORE, issuer="builtin",
                                targets=[]).definition
        current = repo.current_certificate(name)
        if renewal_state(current, definition, now) in (RenewalState.NONE, RenewalState.RENEW,
                                                       RenewalState.EXPIRED,
                                                       RenewalState.REVOKED):
            issue(repo, [name])
            issued = True
    current = repo.current_certificate(name)
    if current is None or current.key_ref is None:
        raise UsageError(f"definition {name} has no certificate with a stored key to serve: "
                         f"issue it first (certmgr issue {name})")
    key = repo.load_private_key(current.key_ref, reason="web console TLS")
    chain = (current.cert_pem.strip() + "\n" + current.chain_pem.strip() + "\n").encode()
    return ConsoleCertificate(name, current.version, chain, key, issued)


def certificate_key(repo: Repository, name: str, *, user: str, password: str) -> bytes:
    """The current private key of ``name`` as PKCS#8 PEM, for an admin who has just
    entered their password again; the read is an audit event naming them.

    Raises:
        InputError: the password is not the user's. NotFound: no such definition or no
        stored key.
    """
    from cryptography.hazmat.primitives import serialization

    from certmgr.app.downloads import check_password_again

    check_password_again(repo, name, user=user, password=password)
    current = repo.current_certificate(name)
    if current is None or current.key_ref is None:
        raise NotFound(f"definition {name} has no certificate with a stored key")
    raw = repo.load_private_key(current.key_ref, reason="web console key download",
                                actor=user)
    key = (serialization.load_pem_private_key(raw, password=None) if raw.startswith(b"-----")
           else serialization.load_der_private_key(raw, password=None))
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
