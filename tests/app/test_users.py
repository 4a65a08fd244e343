"""Users and API tokens as use cases (certmgr.app.users) on a real repository, and the
``certmgr user`` / ``certmgr token`` commands."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from certmgr.app import users as uc
from certmgr.errors import InputError, NotFound
from certmgr.repository import Repository
from tests.conftest import run_cli


def test_a_user_without_password_gets_a_one_time_one_that_must_be_changed(
        repo: Repository) -> None:
    new = uc.add_user(repo, "alice", "admin")
    assert new.one_time_password and len(new.one_time_password) >= 20
    assert new.user.must_change
    assert uc.authenticate(repo, "alice", new.one_time_password, address="127.0.0.1")
    changed = uc.change_password(repo, "alice", new.one_time_password, "a much longer secret")
    assert not changed.must_change
    assert uc.authenticate(repo, "alice", new.one_time_password, address="127.0.0.1") is None
    assert uc.authenticate(repo, "alice", "a much longer secret", address="127.0.0.1")
    with pytest.raises(InputError, match="current password"):
        uc.change_password(repo, "alice", "wrong wrong wrong", "another long secret")
    with pytest.raises(InputError, match="characters"):
        uc.change_password(repo, "alice", "a much longer secret", "short")
    actions = [e.action for e in repo.list_audit(limit=10)]
    assert actions.count("login.ok") == 2 and "login.failed" in actions


def test_passwords_are_argon2id_hashes(repo: Repository) -> None:
    uc.add_user(repo, "bob", "viewer", password="correct horse battery")
    stored = repo._db.read().scalar("SELECT password_hash FROM users WHERE name = 'bob'")
    assert str(stored).startswith("$argon2id$")
    assert "correct horse" not in str(stored)


@pytest.mark.parametrize(("name", "role", "hosts", "password", "message"), [
    ("Alice", "admin", (), None, "user name"),
    ("alice\n", "admin", (), None, "user name"),
    ("a" * 65, "admin", (), None, "user name"),
    ("alice", "root", (), None, "role"),
    ("alice", "viewer", ("lab:*",), None, "restricts an operator"),
    ("alice", "operator", ("lab:* x",), None, "host pattern"),
    ("alice", "operator", tuple(f"h{i}" for i in range(33)), None, "at most 32"),
    ("alice", "operator", (), "short", "characters"),
    ("alice", "operator", (), "x" * 1025, "characters"),
])
def test_bad_user_input_is_refused_by_name(repo: Repository, name: str, role: str,
                                           hosts: tuple[str, ...], password: str | None,
                                           message: str) -> None:
    with pytest.raises(InputError, match=message):
        uc.add_user(repo, name, role, hosts=hosts, password=password)
    assert repo.list_users() == []


def test_host_patterns_restrict_an_operator(repo: Repository) -> None:
    op = uc.add_user(repo, "op", "operator", hosts=("lab:web*", "local")).user
    assert uc.may(op, "operator", ["lab:web1", "local"])
    assert not uc.may(op, "operator", ["lab:mail1"])
    assert not uc.may(op, "admin")
    viewer = uc.add_user(repo, "v", "viewer").user
    assert uc.may(viewer, "viewer", ["anything"]) and not uc.may(viewer, "operator")


def test_tokens_are_stored_hashed_act_as_their_user_and_expire(repo: Repository) -> None:
    uc.add_user(repo, "bot", "operator", password="correct horse battery")
    new = uc.create_token(repo, "bot", expires=dt.timedelta(days=1), name="ci")
    assert new.token.startswith(uc.TOKEN_PREFIX)
    assert new.token not in str(repo._db.read().rows("SELECT * FROM api_tokens"))
    user = uc.user_for_token(repo, new.token)
    assert user is not None and user.name == "bot"
    assert uc.list_tokens(repo)[0].last_used is not None
    assert uc.user_for_token(repo, new.token + "x") is None
    assert uc.user_for_token(repo, "not-a-token") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert repo.user_for_token(new.token, now=later) is None
    uc.revoke_token(repo, new.record.id)
    assert uc.user_for_token(repo, new.token) is None
    with pytest.raises(NotFound):
        uc.revoke_token(repo, new.record.id)
    with pytest.raises(NotFound):
        uc.create_token(repo, "nobody", expires=None)


@pytest.mark.parametrize("text", ["0d", "3651d", "90", "d", "1w", "90d ", "-1d"])
def test_token_expiry_is_bounded(text: str) -> None:
    with pytest.raises(InputError, match="expiry"):
        uc.parse_expiry(text)


def test_removing_a_user_removes_its_tokens(repo: Repository) -> None:
    uc.add_user(repo, "bot", "viewer", password="correct horse battery")
    token = uc.create_token(repo, "bot", expires=None).token
    uc.remove_user(repo, "bot")
    assert uc.user_for_token(repo, token) is None
    assert uc.list_tokens(repo) == []


def test_user_and_token_commands(cli: CliRunner, home: object) -> None:
    code, out, err = run_cli(cli, "user", "add", "alice", "--role", "admin")
    assert code == 0, err
    assert out.startswith("one time password: ")
    code, out, err = run_cli(cli, "user", "add", "op", "--role", "operator", "--hosts", "lab:*",
                             "--password-stdin", input="correct horse battery\n")
    assert code == 0, err
    code, out, _ = run_cli(cli, "--json", "user", "list")
    assert '"lab:*"' in out and '"must_change": true' in out
    code, out, _ = run_cli(cli, "user", "list")
    assert code == 0 and "sign-in" in out and "password" in out and "directory" not in out
    code, _, err = run_cli(cli, "user", "add", "alice", "--role", "viewer")
    assert code == 2 and "exists already" in err
    code, out, err = run_cli(cli, "token", "create", "op", "--expires", "7d", "--name", "ci")
    assert code == 0 and out.startswith("token: cmt_"), err
    code, out, _ = run_cli(cli, "token", "list")
    assert "ci" in out and "cmt_" not in out
    code, _, err = run_cli(cli, "token", "create", "op", "--expires", "9999d")
    assert code == 2 and "expiry" in err
    code, out, _ = run_cli(cli, "token", "revoke", "1")
    assert code == 0 and "revoked token 1" in out
    code, _, err = run_cli(cli, "token", "revoke", "1")
    assert code == 2 and "no API token 1" in err
    code, out, _ = run_cli(cli, "user", "passwd", "op")
    assert code == 0 and out.startswith("one time password: ")
    code, _, _ = run_cli(cli, "user", "remove", "op")
    assert code == 0
    code, _, err = run_cli(cli, "user", "remove", "op")
    assert code == 2 and "no user op" in err


def test_a_totp_second_factor_is_sealed_and_required_once_enrolled(repo: Repository) -> None:
    import base64
    import urllib.parse

    import pyotp

    uc.add_user(repo, "sec", "admin", password="correct horse battery")
    uri = uc.enrol_totp(repo, "sec")
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    assert uri.startswith("otpauth://totp/certmgr:sec?")
    stored = str(repo._db.read().scalar("SELECT totp_secret FROM users WHERE name = 'sec'"))
    # sealed (base85, to fit the column on PostgreSQL): neither the key nor its text in it
    assert secret not in stored and base64.b32decode(secret) not in base64.b85decode(stored)
    assert repo.get_user("sec").totp
    ok = {"address": "127.0.0.1"}
    assert uc.authenticate(repo, "sec", "correct horse battery", **ok) is None
    assert uc.authenticate(repo, "sec", "correct horse battery", code="000000x", **ok) is None
    code = pyotp.TOTP(secret).now()
    assert uc.authenticate(repo, "sec", "correct horse battery", code=code, **ok)
    assert uc.authenticate(repo, "sec", "wrong password here", code=code, **ok) is None
    failed = repo.list_audit(limit=5, action="login.failed")
    assert failed[-1].detail["failed"] == "totp"
    uc.remove_totp(repo, "sec")
    assert uc.authenticate(repo, "sec", "correct horse battery", **ok)


def test_user_totp_command_prints_the_uri_once(cli: CliRunner, home: object) -> None:
    run_cli(cli, "user", "add", "sec", "--role", "viewer", "--password-stdin",
            input="correct horse battery\n")
    code, out, err = run_cli(cli, "user", "totp", "sec")
    assert code == 0 and out.startswith("otpauth uri: otpauth://totp/certmgr:sec?"), err
    code, out, _ = run_cli(cli, "--json", "user", "list")
    assert '"totp": true' in out and "otpauth" not in out
    code, _, err = run_cli(cli, "user", "totp", "nobody")
    assert code == 2 and "no user nobody" in err
    code, out, _ = run_cli(cli, "user", "totp", "sec", "--remove")
    assert code == 0 and "removed" in out


def test_a_totp_code_signs_in_once(repo: Repository) -> None:
    # A code seen over a shoulder or in a proxy's log is worthless once used: the time
    # step of every accepted code is stored, and a code of that step or an older one is
    # refused, also by another request racing the first.
    import urllib.parse

    import pyotp

    uc.add_user(repo, "once", "operator", password="correct horse battery")
    uri = uc.enrol_totp(repo, "once")
    totp = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    ok = {"address": "127.0.0.1"}
    step = totp.timecode(dt.datetime.now(dt.UTC))
    assert uc.authenticate(repo, "once", "correct horse battery",
                           code=totp.generate_otp(step), **ok)
    assert uc.authenticate(repo, "once", "correct horse battery",
                           code=totp.generate_otp(step), **ok) is None
    # the step before is inside the drift window, but older than the one used: refused
    assert uc.authenticate(repo, "once", "correct horse battery",
                           code=totp.generate_otp(step - 1), **ok) is None
    reasons = [e.detail["failed"] for e in repo.list_audit(limit=10, action="login.failed")]
    assert reasons.count("totp_reused") == 2
    # the next step's code (a clock a little ahead) is newer: accepted, once
    assert uc.authenticate(repo, "once", "correct horse battery",
                           code=totp.generate_otp(step + 1), **ok)
    assert repo._db.read().scalar("SELECT totp_step FROM users WHERE name = 'once'") == step + 1
    # a new enrolment starts afresh: its codes are not refused for the old secret's steps
    uri = uc.enrol_totp(repo, "once")
    fresh = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    assert uc.authenticate(repo, "once", "correct horse battery",
                           code=fresh.generate_otp(fresh.timecode(dt.datetime.now(dt.UTC))),
                           **ok)


def test_a_directory_user_has_no_local_password(repo: Repository) -> None:
    user = repo.save_directory_user("dana", "operator", ("lab:web*",))
    assert (user.origin, user.role, user.hosts) == ("ldap", "operator", ("lab:web*",))
    assert repo.check_password("dana", "!directory") is None
    with pytest.raises(InputError, match="through the directory"):
        uc.set_password(repo, "dana", "a long new password")
    uc.add_user(repo, "root_admin", "admin", password="correct horse battery")
    with pytest.raises(InputError, match="local user"):
        repo.save_directory_user("root_admin", "viewer", ())
    assert repo.get_user("root_admin").origin == "local"
