"""Users of the web console and the API, and their bearer tokens.

Passwords are hashed with argon2id (argon2-cffi); hashes of the earlier scrypt
form still verify. A token is only stored as its SHA-256 (it is 256 random bits,
so a slow hash adds nothing); the token itself is shown once, by the caller.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from certmgr.errors import InputError, NotFound
from certmgr.repository.db import Row
from certmgr.repository.decode import decode_json, decode_utc
from certmgr.repository.operations import Operations
from certmgr.repository.records import TokenRecord, UserRecord
from certmgr.repository.values import utcnow

__all__ = ["Accounts", "hash_password", "token_digest", "verify_password"]

_USER_SELECT = ("SELECT name, role, created, disabled, id, password_hash, hosts, must_change, "
                "totp_secret IS NOT NULL, origin FROM users")
_TOKEN_SELECT = ("SELECT t.id, u.name, t.name, t.created, t.expires, t.last_used "  # noqa: S105
                 "FROM api_tokens AS t JOIN users AS u ON t.user_id = u.id")
_HASHER = PasswordHasher()  # argon2id, RFC 9106's second recommended parameters
# A directory user's password_hash: no argon2 hash, so no local password ever matches it.
NO_LOCAL_PASSWORD = "!directory"  # noqa: S105 - a marker, not a password


class Accounts(Operations):
    """Users and API tokens; see :class:`~certmgr.repository.api.Repository`."""

    # -- users -----------------------------------------------------------------------

    def save_user(self, name: str, role: str, password: str | None = None, *,
                  disabled: bool = False, hosts: Sequence[str] | None = None,
                  must_change: bool | None = None) -> UserRecord:
        """Create or update a user; ``password`` (required for a new user) is hashed with
        argon2id. ``hosts`` / ``must_change`` None keep what is stored (new: none, False)."""
        hashed = hash_password(password) if password else None
        with self._db.tx(write=True) as tx:
            user_id = tx.scalar("SELECT id FROM users WHERE name = ?", (name,))
            now = self._db.time(utcnow())
            if user_id is None:
                if hashed is None:
                    raise InputError(f"new user {name!r} needs a password")
                user_id = tx.insert(
                    "INSERT INTO users (name, role, password_hash, disabled, created, updated, "
                    "hosts, must_change) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (name, role, hashed, bool(disabled), now, now,
                     json.dumps(list(hosts or ())), bool(must_change)))
            else:
                tx.execute("UPDATE users SET role = ?, disabled = ?, updated = ? WHERE id = ?",
                           (role, bool(disabled), now, user_id))
                if hashed is not None:
                    tx.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                               (hashed, user_id))
                if hosts is not None:
                    tx.execute("UPDATE users SET hosts = ? WHERE id = ?",
                               (json.dumps(list(hosts)), user_id))
                if must_change is not None:
                    tx.execute("UPDATE users SET must_change = ? WHERE id = ?",
                               (bool(must_change), user_id))
            self._audit(tx, "user.save", f"user:{name}",
                        {"role": role, "disabled": disabled, "hosts": list(hosts or ()),
                         "password_changed": bool(password)})
            row = tx.one(_USER_SELECT + " WHERE id = ?", (user_id,))
        assert row is not None
        return _user(row)

    def get_user(self, name: str) -> UserRecord:
        row = self._db.read().one(_USER_SELECT + " WHERE name = ?", (name,))
        if row is None:
            raise NotFound(f"no user {name!r} in the repository")
        return _user(row)

    def list_users(self) -> list[UserRecord]:
        return [_user(r) for r in self._db.read().rows(_USER_SELECT + " ORDER BY name")]

    def check_password(self, name: str, password: str) -> UserRecord | None:
        """The user if ``password`` is theirs and they are enabled, else None."""
        row = self._db.read().one(_USER_SELECT + " WHERE name = ?", (name,))
        if row is None:
            _HASHER.hash(password)  # the same time whether or not the user exists
            return None
        if row[3] or not verify_password(password, row[5]):
            return None
        return _user(row)

    def delete_user(self, name: str) -> None:
        with self._db.tx(write=True) as tx:
            user_id = tx.scalar("SELECT id FROM users WHERE name = ?", (name,))
            if user_id is None:
                raise NotFound(f"no user {name!r} in the repository")
            tx.execute("DELETE FROM users WHERE id = ?", (user_id,))
            self._audit(tx, "user.delete", f"user:{name}", {})

    def set_totp(self, name: str, secret: bytes | None) -> UserRecord:
        """Enrol (``secret``: the raw TOTP key) or remove a user's second factor; the key is
        sealed under the master key, like private keys."""
        sealed = None
        if secret is not None:
            # base85: the sealed 20-byte key (49 bytes) in 62 characters, inside the
            # column's VARCHAR(64) (base64 took 68, which PostgreSQL refused)
            sealed = base64.b85encode(self.master_key().seal(secret, f"totp:{name}")).decode()
        with self._db.tx(write=True) as tx:
            user_id = tx.scalar("SELECT id FROM users WHERE name = ?", (name,))
            if user_id is None:
                raise NotFound(f"no user {name!r} in the repository")
            tx.execute("UPDATE users SET totp_secret = ?, totp_step = NULL, updated = ? "
                       "WHERE id = ?",
                       (sealed, self._db.time(utcnow()), user_id))
            self._audit(tx, "user.totp", f"user:{name}", {"enrolled": secret is not None})
            row = tx.one(_USER_SELECT + " WHERE id = ?", (user_id,))
        assert row is not None
        return _user(row)

    def totp_secret(self, name: str) -> bytes | None:
        """The raw TOTP key of a user, or None without a second factor."""
        sealed = self._db.read().scalar("SELECT totp_secret FROM users WHERE name = ?", (name,))
        if sealed is None:
            return None
        text = str(sealed)
        # 68 characters: base64, as written before on SQLite (which ignores the length)
        raw = base64.b64decode(text) if len(text) == 68 else base64.b85decode(text)
        return self.master_key().open(raw, f"totp:{name}")

    def accept_totp_step(self, name: str, step: int) -> bool:
        """Note ``step`` (a TOTP time step whose code was right) as the user's last; False,
        noting nothing, when it is not newer than the last accepted one (a replayed code)."""
        with self._db.tx(write=True) as tx:
            row = tx.one("UPDATE users SET totp_step = ? WHERE name = ? AND "
                         "(totp_step IS NULL OR totp_step < ?) RETURNING id",
                         (int(step), name, int(step)))
        return row is not None

    def save_directory_user(self, name: str, role: str, hosts: Sequence[str]) -> UserRecord:
        """Create or refresh the local record of a user signed in through the directory
        (origin ``ldap``, no local password): its role and host patterns are the ones its
        groups give now; a disabled record stays disabled.

        Raises:
            InputError: a local user (with its own password) has this name.
        """
        with self._db.tx(write=True) as tx:
            row = tx.one("SELECT id, origin FROM users WHERE name = ?", (name,))
            now = self._db.time(utcnow())
            if row is not None and row[1] != "ldap":
                raise InputError(f"a local user named {name!r} exists: the directory's user "
                                 "of that name may not sign in as them")
            if row is None:
                user_id = tx.insert(
                    "INSERT INTO users (name, role, password_hash, disabled, created, updated, "
                    "hosts, must_change, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (name, role, NO_LOCAL_PASSWORD, False, now, now, json.dumps(list(hosts)),
                     False, "ldap"))
            else:
                user_id = row[0]
                tx.execute("UPDATE users SET role = ?, hosts = ?, updated = ? WHERE id = ?",
                           (role, json.dumps(list(hosts)), now, user_id))
            self._audit(tx, "user.save", f"user:{name}",
                        {"role": role, "hosts": list(hosts), "origin": "ldap"})
            found = tx.one(_USER_SELECT + " WHERE id = ?", (user_id,))
        assert found is not None
        return _user(found)

    # -- API tokens ------------------------------------------------------------------

    def add_token(self, user: str, token: str, *, name: str,
                  expires: dt.datetime | None) -> TokenRecord:
        """Store ``token`` (its SHA-256 only) for ``user``."""
        with self._db.tx(write=True) as tx:
            user_id = tx.scalar("SELECT id FROM users WHERE name = ?", (user,))
            if user_id is None:
                raise NotFound(f"no user {user!r} in the repository")
            token_id = tx.insert(
                "INSERT INTO api_tokens (user_id, name, sha256, created, expires) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (user_id, name, token_digest(token), self._db.time(utcnow()),
                 self._time(expires)))
            self._audit(tx, "token.create", f"user:{user}",
                        {"token": token_id, "name": name,
                         "expires": expires.isoformat() if expires else None})
            row = tx.one(_TOKEN_SELECT + " WHERE t.id = ?", (token_id,))
        assert row is not None
        return _token(row)

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        if user is None:
            rows = self._db.read().rows(_TOKEN_SELECT + " ORDER BY t.id")
        else:
            rows = self._db.read().rows(_TOKEN_SELECT + " WHERE u.name = ? ORDER BY t.id",
                                        (user,))
        return [_token(r) for r in rows]

    def delete_token(self, token_id: int) -> TokenRecord:
        with self._db.tx(write=True) as tx:
            row = tx.one(_TOKEN_SELECT + " WHERE t.id = ?", (int(token_id),))
            if row is None:
                raise NotFound(f"no API token {token_id} in the repository")
            tx.execute("DELETE FROM api_tokens WHERE id = ?", (int(token_id),))
            self._audit(tx, "token.revoke", f"user:{row[1]}", {"token": int(token_id)})
        return _token(row)

    def user_for_token(self, token: str, *, now: dt.datetime | None = None
                       ) -> tuple[UserRecord, TokenRecord] | None:
        """The enabled user whose unexpired token this is, else None; notes its last use."""
        now = now or utcnow()
        with self._db.tx(write=True) as tx:
            row = tx.one(_TOKEN_SELECT + " WHERE t.sha256 = ?", (token_digest(token),))
            if row is None:
                return None
            record = _token(row)
            if record.expires is not None and record.expires <= now:
                return None
            user_row = tx.one(_USER_SELECT + " WHERE name = ?", (record.user,))
            if user_row is None or user_row[3]:
                return None
            tx.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?",
                       (self._db.time(now), record.id))
        return _user(user_row), record


def hash_password(password: str) -> str:
    """An argon2id hash in the PHC string form."""
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), dklen=32)
    except ValueError:
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(r: Row) -> UserRecord:
    return UserRecord(r[0], r[1], decode_utc(r[2]), bool(r[3]), r[4],
                      tuple(decode_json(r[6])), bool(r[7]), bool(r[8]), str(r[9]))


def _token(r: Row) -> TokenRecord:
    return TokenRecord(r[0], r[1], r[2], decode_utc(r[3]),
                       decode_utc(r[4]) if r[4] is not None else None,
                       decode_utc(r[5]) if r[5] is not None else None)
