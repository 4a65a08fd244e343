"""A user's TOTP key is stored sealed in ``users.totp_secret`` (VARCHAR(64)): it fits on
PostgreSQL, which checks the length, and a key written as base64 by earlier versions
(68 characters, on SQLite, which does not) still opens."""

from __future__ import annotations

import base64
import secrets

from certmgr.repository import Repository


def test_a_totp_key_fits_its_column_and_an_older_base64_one_still_opens(
        repo: Repository) -> None:
    repo.save_user("otp1", "viewer", "a password for otp1")
    raw = secrets.token_bytes(20)
    repo.set_totp("otp1", raw)  # PostgreSQL refused the base64 form (68 > 64)
    assert repo.totp_secret("otp1") == raw
    stored = str(repo._db.read().scalar("SELECT totp_secret FROM users WHERE name = ?",
                                        ("otp1",)))
    assert len(stored) <= 64 and raw.hex() not in stored
    if repo.backend == "sqlite":  # how an earlier version wrote it
        old = base64.b64encode(base64.b85decode(stored)).decode()
        with repo._db.tx(write=True) as tx:
            tx.execute("UPDATE users SET totp_secret = ? WHERE name = ?", (old, "otp1"))
        assert len(old) == 68 and repo.totp_secret("otp1") == raw
