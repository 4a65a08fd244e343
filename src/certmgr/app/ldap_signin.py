"""Sign-in through an LDAP directory (``ldap3``), and the one sign-in use case the login
form calls for local and directory users alike.

A directory sign-in: connect (StartTLS, or ldaps://), verify the directory's certificate
against the admin's CA file and its name, and only then send a password; bind as the
user (DN from the template, or found by the service account's search); find the user's
groups; map them to a role (the highest wins; no mapped group: refused). All of it within
one deadline. The user then gets a local record (origin ``ldap``) with that role, so
sessions, tokens, audit and host patterns work as for local users; a user whom the
directory no longer puts in any group loses the record (and its tokens) at the next try.

Local users (origin ``local``) keep signing in with their own password, also when a
directory is configured. Every outcome is an audit event: ``login.ok``,
``login.failed`` (password, TOTP), ``login.refused`` (no group, a local user of that
name), ``login.error`` (the directory could not be used: unreachable, untrusted
certificate, too slow). No message ever holds a password.
"""

from __future__ import annotations

import contextlib
import enum
import math
import re
import ssl
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from certmgr import redact
from certmgr.app import users as uc
from certmgr.app.ldap_config import GroupRule, LdapConfig
from certmgr.deadline import Deadline
from certmgr.errors import CertmgrError, InputError, NotFound

if TYPE_CHECKING:
    from certmgr.repository import Repository
    from certmgr.repository.records import UserRecord

__all__ = ["DirectoryError", "Outcome", "SignIn", "directory_sign_in", "map_groups",
           "sign_in"]


class DirectoryError(CertmgrError):
    """The directory could not be used (unreachable, untrusted, too slow, refused TLS)."""

    exit_code = 1


class Outcome(str, enum.Enum):
    OK = "ok"
    FAILED = "failed"  # wrong name, password or one-time code: counts towards throttling
    REFUSED = "refused"  # right password, but no role here
    UNAVAILABLE = "unavailable"  # the directory could not be used: not the user's doing


@dataclass(frozen=True)
class SignIn:
    """What a sign-in came to: the user when ``outcome`` is OK, and a sentence for them."""

    outcome: Outcome
    user: UserRecord | None = None
    message: str = ""


@dataclass(frozen=True)
class _Found:
    ok: bool  # the password was right
    dn: str = ""
    groups: frozenset[str] = frozenset()


_WRONG = "The user name, the password or the one-time code is not right."


def sign_in(repo: Repository, name: str, password: str, *, address: str, code: str = "",
            ldap: LdapConfig | None = None) -> SignIn:
    """Sign ``name`` in: with their local password when they are a local user (or no
    directory is configured), else through the directory. Every attempt is audited."""
    local = _local_user(repo, name)
    if ldap is None or (local is not None and local.origin == "local"):
        user = uc.authenticate(repo, name, password, address=address, code=code)
        return SignIn(Outcome.OK, user) if user else SignIn(Outcome.FAILED, None, _WRONG)
    return directory_sign_in(repo, ldap, name, password, address=address, code=code)


def _local_user(repo: Repository, name: str) -> UserRecord | None:
    try:
        return repo.get_user(name) if uc.valid_name(name) else None
    except NotFound:
        return None


def directory_sign_in(repo: Repository, ldap: LdapConfig, name: str, password: str, *,
                      address: str, code: str = "") -> SignIn:
    """The directory's answer for ``name``, turned into a local user record; audited."""
    target = f"user:{name[:64]}"

    def event(action: str, actor: str = "anonymous", **detail: object) -> None:
        repo.record_event(action, target, {"address": address, "via": "ldap", **detail},
                          actor=actor)

    if not uc.valid_name(name) or not 0 < len(password) <= uc.PASSWORD_MAX:
        event("login.failed", failed="password")
        return SignIn(Outcome.FAILED, None, _WRONG)
    try:
        found = _ask_directory(ldap, name, password)
    except DirectoryError as exc:
        event("login.error", reason=exc.message)
        return SignIn(Outcome.UNAVAILABLE, None, "Sign-in through the directory is not "
                      "possible now; the reason is in the audit log.")
    if not found.ok:
        event("login.failed", failed="password")
        return SignIn(Outcome.FAILED, None, _WRONG)
    role, hosts = map_groups(ldap.groups, found.groups)
    if role is None:
        _drop_record(repo, name)
        event("login.refused", failed="no_group", dn=found.dn)
        return SignIn(Outcome.REFUSED, None, "You are in none of the directory groups that "
                      "may use certmgr: ask an administrator.")
    try:
        user = repo.save_directory_user(name, role, hosts)
    except InputError:
        event("login.refused", failed="local_name", dn=found.dn)
        return SignIn(Outcome.REFUSED, None, _WRONG)
    why = "disabled" if user.disabled else uc.second_factor(repo, user, code)
    if why:
        event("login.failed", failed=why)
        return SignIn(Outcome.FAILED, None, _WRONG)
    event("login.ok", actor=name, dn=found.dn, role=role, hosts=list(hosts))
    return SignIn(Outcome.OK, user)


def _drop_record(repo: Repository, name: str) -> None:
    """A directory user in no mapped group any more: its record and tokens go (a record an
    admin disabled stays, so that it stays disabled)."""
    user = _local_user(repo, name)
    if user is not None and user.origin == "ldap" and not user.disabled:
        repo.delete_user(name)


def map_groups(rules: tuple[GroupRule, ...], member_of: frozenset[str]
               ) -> tuple[str | None, tuple[str, ...]]:
    """The role the highest of the user's mapped groups gives (None: no mapped group),
    and for an operator the union of its operator groups' host patterns (none when one
    of them has none: that group allows every host)."""
    mine = [r for r in rules if _norm(r.dn) in member_of]
    if not mine:
        return None, ()
    role = max((r.role for r in mine), key=uc.ROLES.index)
    if role != "operator":
        return role, ()
    operators = [r for r in mine if r.role == "operator"]
    if any(not r.hosts for r in operators):
        return role, ()
    return role, tuple(dict.fromkeys(h for r in operators for h in r.hosts))


def _norm(dn: str) -> str:
    """A DN compared as directories do for ours: no spaces around separators, any case."""
    return ",".join(part.strip() for part in dn.split(",")).lower()


# -- the directory --------------------------------------------------------------------

def _ldap3() -> Any:
    # ldap3 2.9 imports pyasn1 names that pyasn1 0.6 marks deprecated: harmless here, and
    # kept out of -W error runs and the console's log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import ldap3
        import ldap3.core.exceptions
        import ldap3.utils.conv
        import ldap3.utils.dn
    return ldap3


def _ask_directory(ldap: LdapConfig, name: str, password: str) -> _Found:
    """Bind as ``name`` and read their groups, within ``ldap.timeout`` in all.

    Raises:
        DirectoryError: the directory could not be used; the message says why.
    """
    lib = _ldap3()
    with Deadline(ldap.timeout) as deadline:
        try:
            return _exchange(lib, ldap, deadline, name, password)
        except lib.core.exceptions.LDAPException as exc:
            if deadline.expired:
                raise _too_slow(ldap) from None
            raise DirectoryError(_why(ldap, exc, password)) from None
        except OSError as exc:
            if deadline.expired or isinstance(exc, TimeoutError):
                raise _too_slow(ldap) from None
            raise DirectoryError(f"{ldap.url}: {_clean(str(exc), password)}") from None


def _too_slow(ldap: LdapConfig) -> DirectoryError:
    return DirectoryError(f"{ldap.url}: no answer within {ldap.timeout:g} s (ldap.timeout)")


def _clean(text: str, password: str) -> str:
    """An error text without the user's password (never in ldap3's messages, but never
    trusted to stay so) nor any secret certmgr holds (the service password)."""
    return redact.text(text.replace(password, redact.MASK))[:300]


def _why(ldap: LdapConfig, exc: BaseException, password: str) -> str:
    text = _clean(str(exc), password)
    if "CERTIFICATE_VERIFY_FAILED" in text or _verify_message(exc):
        # ldap3 re-raises the ssl error as its own (fields lost, message nested in quotes)
        found = re.search(r"certificate verify failed: ([^(]+)", text)
        why = _verify_message(exc) or (found.group(1).strip() if found else text)
        return (f"{ldap.url}: the directory's certificate is not trusted: {why} "
                f"(checked against ldap.ca_file {ldap.ca_file} and the name {ldap.host})")
    if "socket" in type(exc).__name__.lower() or "connection refused" in text.lower():
        return f"{ldap.url}: cannot connect: {text}"
    return f"{ldap.url}: {type(exc).__name__}: {text}"


def _verify_message(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        message = getattr(cause, "verify_message", None)
        if isinstance(cause, ssl.SSLCertVerificationError) and message:
            return str(message)
        cause = cause.__cause__ or cause.__context__
    return ""


def _tls_class(lib: Any, ldap: LdapConfig, deadline: Deadline) -> Any:
    class _Tls(lib.Tls):  # type: ignore[misc]
        """TLS with the standard library's checks: the admin's CA file, TLS 1.2 or later,
        and the directory's name (or address) in its certificate."""

        def wrap_socket(self, connection: Any, do_handshake: bool = False) -> None:
            if not ldap.starttls:  # ldaps://: the handshake is the first exchange
                deadline.watch(connection.socket)
            context = ssl.create_default_context(cafile=str(ldap.ca_file))
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            connection.socket = context.wrap_socket(
                connection.socket, server_hostname=ldap.host,
                do_handshake_on_connect=do_handshake)

    return _Tls()


def _exchange(lib: Any, ldap: LdapConfig, deadline: Deadline, name: str,
              password: str) -> _Found:
    server = lib.Server(ldap.host, port=ldap.port, use_ssl=not ldap.starttls,
                        tls=_tls_class(lib, ldap, deadline), get_info=lib.NONE,
                        connect_timeout=deadline.remaining())
    conn = lib.Connection(server, client_strategy=lib.SYNC, auto_bind=lib.AUTO_BIND_NONE,
                          authentication=lib.SIMPLE,
                          # whole seconds (ldap3 packs them into SO_RCVTIMEO); the
                          # deadline cuts the exchange at its own time anyway
                          receive_timeout=max(1, math.ceil(deadline.remaining())),
                          raise_exceptions=False,
                          read_only=True, auto_referrals=False)
    try:
        conn.open(read_server_info=False)
        if ldap.starttls:
            deadline.watch(conn.socket)
        if ldap.starttls and not conn.start_tls(read_server_info=False):
            raise DirectoryError(f"{ldap.url}: the directory refused StartTLS "
                                 f"({conn.result.get('description')}); no password was sent")
        if not isinstance(conn.socket, ssl.SSLSocket):
            raise DirectoryError(f"{ldap.url}: the connection is not TLS; no password was "
                                 "sent")
        dn = _user_dn(lib, ldap, conn, name)
        if dn is None or not _bind(conn, dn, password):
            return _Found(False)
        if ldap.service is not None and not _bind(conn, ldap.service.bind_dn,
                                                  ldap.service.password):
            raise DirectoryError(f"{ldap.url}: the service account {ldap.service.bind_dn} "
                                 "cannot bind (ldap.search.bind_dn and its password)")
        return _Found(True, dn, _groups(lib, ldap, conn, dn))
    finally:
        with contextlib.suppress(lib.core.exceptions.LDAPException, OSError):
            if not conn.closed:
                conn.unbind()
        if conn.socket is not None:  # ldap3 leaves it open after some errors
            conn.socket.close()


def _bind(conn: Any, dn: str, password: str) -> bool:
    """A simple bind; False for wrong credentials (result 49), DirectoryError otherwise."""
    conn.user, conn.password = dn, password
    if conn.bind(read_server_info=False):
        return True
    if conn.result.get("result") == 49:  # invalidCredentials
        return False
    raise DirectoryError(f"the directory refused the bind of {dn}: "
                         f"{conn.result.get('description')} "
                         f"{_clean(str(conn.result.get('message', '')), password)}")


def _user_dn(lib: Any, ldap: LdapConfig, conn: Any, name: str) -> str | None:
    if ldap.user_dn is not None:
        return ldap.user_dn.replace("{username}", lib.utils.dn.escape_rdn(name))
    if ldap.service is not None and not _bind(conn, ldap.service.bind_dn,
                                              ldap.service.password):
        raise DirectoryError(f"{ldap.url}: the service account {ldap.service.bind_dn} cannot "
                             "bind (ldap.search.bind_dn and its password)")
    query = ldap.search_filter.replace("{username}",
                                       lib.utils.conv.escape_filter_chars(name))
    ok = conn.search(ldap.search_base, query, search_scope=lib.SUBTREE,
                     attributes=[lib.NO_ATTRIBUTES], size_limit=2)
    if not ok and conn.result.get("result") not in (0, 4, 32):  # sizeLimit, noSuchObject
        raise DirectoryError(f"{ldap.url}: the user search failed: "
                             f"{conn.result.get('description')}")
    entries = [e["dn"] for e in conn.response or () if e.get("type") == "searchResEntry"]
    return str(entries[0]) if len(entries) == 1 else None


def _groups(lib: Any, ldap: LdapConfig, conn: Any, dn: str) -> frozenset[str]:
    query = ldap.group_filter.replace("{dn}", lib.utils.conv.escape_filter_chars(dn))
    ok = conn.search(ldap.group_base, query, search_scope=lib.SUBTREE,
                     attributes=[lib.NO_ATTRIBUTES],
                     size_limit=1000)
    if not ok and conn.result.get("result") not in (0, 4, 32):
        raise DirectoryError(f"{ldap.url}: the group search failed: "
                             f"{conn.result.get('description')}")
    return frozenset(_norm(str(e["dn"])) for e in conn.response or ()
                     if e.get("type") == "searchResEntry")

