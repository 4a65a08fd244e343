"""Users and API tokens of the web console: add, list, remove, change a password;
create, list and revoke tokens; sign in; and the one authorization rule.

Roles are ordered: ``viewer`` reads, ``operator`` also acts (define, issue,
deploy, discover), ``admin`` also manages users, tokens and key material. An
operator with host patterns acts only on hosts whose name matches one of them
(shell-style globs over host names as certmgr writes them: ``local``,
``lab:web1``, ``ssh://root@mx1``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certmgr.errors import InputError, NotFound
from certmgr.repository.records import TokenRecord, UserRecord

if TYPE_CHECKING:
    from certmgr.repository import Repository

__all__ = [
    "ROLES",
    "NewToken",
    "NewUser",
    "PendingTotp",
    "TokenRecord",
    "UserRecord",
    "add_user",
    "authenticate",
    "change_password",
    "check_password_value",
    "confirm_totp",
    "create_token",
    "enrol_totp",
    "host_allowed",
    "list_tokens",
    "list_users",
    "may",
    "new_totp",
    "parse_expiry",
    "remove_own_totp",
    "remove_totp",
    "remove_user",
    "revoke_token",
    "second_factor",
    "set_password",
    "user_for_token",
    "valid_name",
]

ROLES = ("viewer", "operator", "admin")
_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,63}")
_PATTERN = re.compile(r"[A-Za-z0-9_.:@/*?\[\]!-]{1,255}")
_LABEL = re.compile(r"[A-Za-z0-9 _.:@/-]{1,64}")
_EXPIRY = re.compile(r"([1-9][0-9]{0,3})d")
MAX_HOST_PATTERNS = 32
PASSWORD_MIN, PASSWORD_MAX = 12, 1024
TOKEN_PREFIX = "cmt_"  # noqa: S105 - the prefix, not a token


@dataclass(frozen=True)
class NewUser:
    """A user just added, and its one-time password when none was given (shown once)."""

    user: UserRecord
    one_time_password: str | None = None


@dataclass(frozen=True)
class NewToken:
    """A token just created: the record, and the token itself (shown once, never stored)."""

    record: TokenRecord
    token: str


def valid_name(name: str) -> bool:
    """Whether ``name`` is a user name certmgr accepts (``[a-z_][a-z0-9_.-]{0,63}``)."""
    return _NAME.fullmatch(name) is not None


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InputError(f"user name {name[:80]!r} is not valid: use 1 to 64 lower-case "
                         "letters, digits, '_', '.' or '-', starting with a letter or '_'")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InputError(f"role {role[:40]!r} is not one of {', '.join(ROLES)}")
    return role


def _check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    if len(patterns) > MAX_HOST_PATTERNS:
        raise InputError(f"{len(patterns)} host patterns: at most {MAX_HOST_PATTERNS}")
    for p in patterns:
        if not _PATTERN.fullmatch(p):
            raise InputError(f"host pattern {p[:80]!r} is not valid: 1 to 255 characters of "
                             "letters, digits and _ . : @ / - with the globs * ? [ ] !")
    return tuple(dict.fromkeys(patterns))


def check_password_value(password: str) -> str:
    """A new password, checked for length (what argon2id hashes is bounded too)."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InputError(f"the password has {len(password)} characters: give "
                         f"{PASSWORD_MIN} to {PASSWORD_MAX}")
    return password


def _one_time() -> str:
    return secrets.token_urlsafe(15)  # 120 bits


def add_user(repo: Repository, name: str, role: str, *, hosts: Sequence[str] = (),
             password: str | None = None) -> NewUser:
    """Add a user. Without ``password`` a one-time password is made, to be changed at the
    first sign-in.

    Raises:
        InputError: a value is invalid, or the user exists already.
    """
    _check_name(name)
    _check_role(role)
    patterns = _check_patterns(hosts)
    if patterns and role != "operator":
        raise InputError("--hosts restricts an operator; a viewer reads everything and an "
                         "admin may do everything")
    if password is not None:
        check_password_value(password)
    try:
        repo.get_user(name)
    except NotFound:
        pass
    else:
        raise InputError(f"user {name!r} exists already: remove it first, or change its "
                         f"password with `certmgr user passwd {name}`")
    one_time = None if password is not None else _one_time()
    user = repo.save_user(name, role, password or one_time, hosts=patterns,
                          must_change=one_time is not None)
    return NewUser(user, one_time)


def list_users(repo: Repository) -> list[UserRecord]:
    return repo.list_users()


def remove_user(repo: Repository, name: str) -> None:
    """Remove a user and its tokens. Raises NotFound."""
    repo.delete_user(_check_name(name))


def set_password(repo: Repository, name: str, password: str | None = None) -> NewUser:
    """Set a user's password (an admin's reset); without one a one-time password is made,
    to be changed at the next sign-in. Raises NotFound, InputError."""
    user = repo.get_user(_check_name(name))
    _local_only(user)
    if password is not None:
        check_password_value(password)
    one_time = None if password is not None else _one_time()
    saved = repo.save_user(name, user.role, password or one_time,
                           disabled=user.disabled, must_change=one_time is not None)
    return NewUser(saved, one_time)


def _local_only(user: UserRecord) -> None:
    if user.origin != "local":
        raise InputError(f"user {user.name!r} signs in through the directory ({user.origin}): "
                         "its password is the directory's, changed there")


def change_password(repo: Repository, name: str, current: str, new: str) -> UserRecord:
    """A user's own change (the first sign-in's included): the current password first.

    Raises:
        InputError: the current password is wrong, or the new one is invalid or the same.
    """
    _local_only(repo.get_user(_check_name(name)))
    user = repo.check_password(name, current)
    if user is None:
        raise InputError("the current password is not right")
    check_password_value(new)
    if new == current:
        raise InputError("the new password is the current one: choose another")
    return repo.save_user(name, user.role, new, disabled=user.disabled, must_change=False)


def authenticate(repo: Repository, name: str, password: str, *, address: str,
                 code: str = "") -> UserRecord | None:
    """The user if the password is theirs (and ``code`` is their current TOTP code when
    they enrolled one, not used before); every attempt is an audit event."""
    if not _NAME.fullmatch(name) or len(password) > PASSWORD_MAX:
        user = None
    else:
        user = repo.check_password(name, password)
    why = "password"
    if user is not None:
        why = second_factor(repo, user, code) or ""
        if why:
            user = None
    detail = {"address": address} if user else {"address": address, "failed": why}
    repo.record_event("login.ok" if user else "login.failed", f"user:{name[:64]}",
                      detail, actor=name[:64] if user else "anonymous")
    return user


def second_factor(repo: Repository, user: UserRecord, code: str) -> str | None:
    """None when ``user`` has no second factor or ``code`` is a right one used for the first
    time; else why not: ``totp`` (wrong or missing) or ``totp_reused`` (a code whose time
    step is not newer than the last one accepted: each code signs in once)."""
    if not user.totp:
        return None
    return _totp_check(repo, user.name, code)


TOTP_ISSUER = "certmgr"


def enrol_totp(repo: Repository, name: str) -> str:
    """Enrol a new TOTP second factor for ``name`` (replacing any); returns the
    ``otpauth://`` URI to show once (as text or a QR code) to the user's authenticator."""
    import base64

    import pyotp

    raw = secrets.token_bytes(20)  # 160 bits, RFC 4226's recommendation
    repo.set_totp(_check_name(name), raw)
    secret = base64.b32encode(raw).decode()
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=TOTP_ISSUER)


def remove_totp(repo: Repository, name: str) -> UserRecord:
    return repo.set_totp(_check_name(name), None)


@dataclass(frozen=True)
class PendingTotp:
    """A TOTP key made for a user's own enrolment, not yet in effect: the user shows it to
    their authenticator (``secret`` as text, ``uri`` as a QR code) and confirms with a
    current code (:func:`confirm_totp`). Kept by the face (the session), never logged."""

    user: str
    raw: bytes
    secret: str
    uri: str

    def __repr__(self) -> str:  # never the key
        return f"PendingTotp({self.user!r})"


def new_totp(name: str) -> PendingTotp:
    """A fresh TOTP key for ``name``'s self-service enrolment (nothing is stored yet)."""
    import base64

    import pyotp

    raw = secrets.token_bytes(20)  # 160 bits, RFC 4226's recommendation
    secret = base64.b32encode(raw).decode()
    uri = pyotp.TOTP(secret).provisioning_uri(name=_check_name(name), issuer_name=TOTP_ISSUER)
    return PendingTotp(name, raw, secret, uri)


def confirm_totp(repo: Repository, pending: PendingTotp, code: str) -> UserRecord:
    """Put ``pending`` into effect once ``code`` is a current code of it (the user's
    authenticator has it right); that code's time step counts as used, so it does not sign
    in again. Local and directory users alike; audited (``user.totp``, or
    ``user.totp_refused`` for a wrong code).

    Raises:
        InputError: the code is not a current one of the new key (nothing changes).
    """
    import base64
    import hmac

    import pyotp

    user = repo.get_user(_check_name(pending.user))
    totp = pyotp.TOTP(base64.b32encode(pending.raw).decode())
    now = totp.timecode(dt.datetime.now(dt.UTC))
    code = code.strip()
    step = next((s for s in (now + 1, now, now - 1) if re.fullmatch(r"[0-9]{6}", code)
                 and hmac.compare_digest(totp.generate_otp(s), code)), None)
    if step is None:
        repo.record_event("user.totp_refused", f"user:{user.name}", {"reason": "code"},
                          actor=user.name)
        raise InputError("the code is not the authenticator's current one for the new key: "
                         "check that it scanned this QR code (or the key as text) and that "
                         "its clock is right, then enter the code it shows now")
    saved = repo.set_totp(user.name, pending.raw)
    repo.accept_totp_step(user.name, step)
    return saved


def remove_own_totp(repo: Repository, name: str, *, password: str = "",
                    code: str = "") -> UserRecord:
    """A user's removal of their own second factor, proving who they are again: a local
    user with their password, a directory user (whose password is the directory's) with a
    current TOTP code. Audited (``user.totp``, or ``user.totp_refused``).

    Raises:
        InputError: the proof is not right, or there is no second factor to remove.
    """
    user = repo.get_user(_check_name(name))
    if not user.totp:
        raise InputError(f"{name} has no TOTP second factor to remove")
    if user.origin == "local":
        ok = len(password) <= PASSWORD_MAX and repo.check_password(name, password) is not None
        proof = "password"
    else:
        ok = _totp_check(repo, name, code.strip()) is None
        proof = "code"
    if not ok:
        repo.record_event("user.totp_refused", f"user:{name}", {"reason": proof},
                          actor=name)
        raise InputError(f"the {'password' if proof == 'password' else 'TOTP code'} is not "
                         "right: removing the second factor needs it")
    return repo.set_totp(name, None)


def _totp_check(repo: Repository, name: str, code: str) -> str | None:
    import base64
    import hmac

    import pyotp

    if not re.fullmatch(r"[0-9]{6}", code):
        return "totp"
    raw = repo.totp_secret(name)
    if raw is None:
        return "totp"
    totp = pyotp.TOTP(base64.b32encode(raw).decode())
    now = totp.timecode(dt.datetime.now(dt.UTC))
    for step in (now + 1, now, now - 1):  # one step of clock drift either way
        if hmac.compare_digest(totp.generate_otp(step), code):
            return None if repo.accept_totp_step(name, step) else "totp_reused"
    return "totp"


def parse_expiry(text: str) -> dt.timedelta:
    """``90d`` -> 90 days (1 to 3650)."""
    m = _EXPIRY.fullmatch(text)
    if m is None or int(m.group(1)) > 3650:
        raise InputError(f"expiry {text[:40]!r} is not valid: give days as 1d to 3650d")
    return dt.timedelta(days=int(m.group(1)))


def create_token(repo: Repository, user: str, *, expires: dt.timedelta | None,
                 name: str = "", now: dt.datetime | None = None) -> NewToken:
    """Create a bearer token acting as ``user`` with its role and host patterns.

    Raises:
        NotFound: no such user. InputError: the label is invalid.
    """
    _check_name(user)
    label = name or "token"
    if not _LABEL.fullmatch(label):
        raise InputError(f"token name {label[:80]!r} is not valid: 1 to 64 letters, digits, "
                         "spaces and _ . : @ / -")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    when = None if expires is None else (now or dt.datetime.now(dt.UTC)) + expires
    return NewToken(repo.add_token(user, token, name=label, expires=when), token)


def list_tokens(repo: Repository, user: str | None = None) -> list[TokenRecord]:
    return repo.list_tokens(user)


def revoke_token(repo: Repository, token_id: int) -> TokenRecord:
    """Revoke a token by its id. Raises NotFound."""
    return repo.delete_token(token_id)


def user_for_token(repo: Repository, token: str) -> UserRecord | None:
    """The user a presented bearer token acts as, or None (unknown, expired, disabled)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    found = repo.user_for_token(token)
    return found[0] if found else None


def host_allowed(user: UserRecord, host: str) -> bool:
    """Whether ``user`` may act on ``host`` (no patterns: every host)."""
    return not user.hosts or any(fnmatch.fnmatchcase(host, p) for p in user.hosts)


def may(user: UserRecord, role: str, hosts: Iterable[str] = ()) -> bool:
    """The one authorization rule: ``user`` has at least ``role`` and may act on every
    one of ``hosts``."""
    if user.disabled or user.role not in ROLES:
        return False
    if ROLES.index(user.role) < ROLES.index(role):
        return False
    return all(host_allowed(user, h) for h in hosts)
