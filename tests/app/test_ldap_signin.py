"""LDAP sign-in (certmgr.app.ldap_signin) against a real slapd on loopback: StartTLS with
the directory's certificate checked, bind as the user, groups mapped to roles, a local
user record, audit events, deadlines. Marker ``ldap``: skipped without slapd outside CI,
never skipped in CI."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from certmgr.app import users as uc
from certmgr.app.ldap_config import LdapConfig, load_ldap_config
from certmgr.app.ldap_signin import Outcome, map_groups, sign_in
from certmgr.errors import InputError
from certmgr.repository import Repository
from tests.app.slapd import (
    BASE,
    PASSWORD,
    SERVICE_DN,
    SERVICE_PASSWORD,
    Directory,
    start_slapd,
)

pytestmark = pytest.mark.ldap
ADDRESS = {"address": "127.0.0.1"}
GROUPS = f"""
[[ldap.group]]
dn = "cn=certmgr-admins,ou=groups,{BASE}"
role = "admin"
[[ldap.group]]
dn = "cn=web-operators,ou=groups,{BASE}"
role = "operator"
hosts = ["lab:web*"]
[[ldap.group]]
dn = "cn=certmgr-viewers,ou=groups,{BASE}"
role = "viewer"
"""


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    yield from start_slapd(tmp_path_factory.mktemp("slapd"))


def _config(tmp_path: Path, url: str, ca: Path, users: str | None = None,
            timeout: float = 5) -> LdapConfig:
    file = tmp_path / "ldap.toml"
    users = users or f'user_dn = "uid={{username}},ou=people,{BASE}"'
    file.write_text(f'[ldap]\nurl = "{url}"\nca_file = "{ca}"\ntimeout = {timeout}\n'
                    f'group_base = "ou=groups,{BASE}"\n{users}\n{GROUPS}')
    return load_ldap_config(file)


@pytest.fixture
def ldap(directory: Directory, tmp_path: Path) -> LdapConfig:
    return _config(tmp_path, directory.url, directory.ca_file)


def _events(repo: Repository, action: str) -> list[dict[str, object]]:
    """The details of ``action`` events, oldest first."""
    return [e.detail for e in reversed(repo.list_audit(limit=50, action=action))]


def test_right_password_and_group_signs_in_with_the_highest_mapped_role(
        repo: Repository, ldap: LdapConfig) -> None:
    got = sign_in(repo, "alice", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.OK and got.user is not None
    # alice is in the admins and the viewers: the highest wins
    assert (got.user.name, got.user.role, got.user.origin) == ("alice", "admin", "ldap")
    assert repo.get_user("alice").role == "admin"
    ok = _events(repo, "login.ok")[-1]
    assert ok["via"] == "ldap" and ok["role"] == "admin"
    # the record is a user like the others: tokens act as it
    token = uc.create_token(repo, "alice", expires=None).token
    assert uc.user_for_token(repo, token) == repo.get_user("alice")
    # and a local password never signs it in
    assert uc.authenticate(repo, "alice", PASSWORD, **ADDRESS) is None
    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, **ADDRESS).user.role == "viewer"  # type: ignore[union-attr]


def test_wrong_password_is_refused_and_audited(repo: Repository, ldap: LdapConfig) -> None:
    got = sign_in(repo, "alice", "not the password", ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.FAILED and got.user is None
    assert "not right" in got.message
    failed = _events(repo, "login.failed")[-1]
    assert failed == {"address": "127.0.0.1", "via": "ldap", "failed": "password"}
    # an unknown user is the same answer
    assert sign_in(repo, "zed", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.FAILED
    # and an empty password never becomes an unauthenticated bind
    assert sign_in(repo, "alice", "", ldap=ldap, **ADDRESS).outcome is Outcome.FAILED
    assert "not the password" not in str(repo.list_audit(limit=50))


def test_a_user_in_no_mapped_group_is_refused_and_loses_the_record(
        repo: Repository, ldap: LdapConfig) -> None:
    got = sign_in(repo, "nobody", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.REFUSED and "none of the directory groups" in got.message
    assert _events(repo, "login.refused")[-1]["failed"] == "no_group"
    assert [u.name for u in repo.list_users()] == []
    # a record made when the user was in a group goes (with its tokens) once they are not
    repo.save_directory_user("nobody", "admin", ())
    uc.create_token(repo, "nobody", expires=None)
    assert sign_in(repo, "nobody", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.REFUSED
    assert [u.name for u in repo.list_users()] == [] and repo.list_tokens() == []


def test_a_restricted_operator_group_gives_its_host_patterns(
        repo: Repository, ldap: LdapConfig) -> None:
    got = sign_in(repo, "oscar", PASSWORD, ldap=ldap, **ADDRESS)
    user = got.user
    assert user is not None and (user.role, user.hosts) == ("operator", ("lab:web*",))
    assert uc.may(user, "operator", ["lab:web1"])
    assert not uc.may(user, "operator", ["lab:mail1"])
    assert not uc.may(user, "operator", ["local"])


def test_local_users_keep_their_own_password_and_their_name(
        repo: Repository, ldap: LdapConfig) -> None:
    uc.add_user(repo, "root_admin", "viewer", password="the local password")
    got = sign_in(repo, "root_admin", "the local password", ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.OK and got.user and got.user.origin == "local"
    # the directory's root_admin may not take the local account over
    got = sign_in(repo, "root_admin", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.FAILED
    assert repo.get_user("root_admin").role == "viewer"


def test_search_then_bind_with_a_service_account(
        repo: Repository, directory: Directory, tmp_path: Path) -> None:
    secret = tmp_path / "service-password"
    secret.touch(mode=0o600)
    secret.write_text(SERVICE_PASSWORD + "\n")
    users = (f'[ldap.search]\nbase = "ou=people,{BASE}"\nfilter = "(uid={{username}})"\n'
             f'bind_dn = "{SERVICE_DN}"\npassword_file = "{secret}"\n')
    ldap = _config(tmp_path, directory.url, directory.ca_file, users)
    assert SERVICE_PASSWORD not in repr(ldap)
    got = sign_in(repo, "oscar", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.OK and got.user and got.user.role == "operator"
    assert _events(repo, "login.ok")[-1]["dn"] == f"uid=oscar,ou=people,{BASE}"
    # a filter-special name finds nobody (escaped), and is refused like a wrong password
    assert sign_in(repo, "o*", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.FAILED
    # a wrong service password is the directory's problem, said without the password
    secret.write_text("wrong service password\n")
    bad = _config(tmp_path, directory.url, directory.ca_file, users)
    got = sign_in(repo, "oscar", PASSWORD, ldap=bad, **ADDRESS)
    assert got.outcome is Outcome.UNAVAILABLE
    reason = str(_events(repo, "login.error")[-1]["reason"])
    assert "service account" in reason and "wrong service password" not in reason


def test_ldaps_works_too(repo: Repository, directory: Directory, tmp_path: Path) -> None:
    ldap = _config(tmp_path, directory.ldaps_url, directory.ca_file)
    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.OK


@pytest.mark.parametrize("which", ["starttls", "ldaps"])
def test_an_untrusted_directory_certificate_is_refused_before_any_password(
        repo: Repository, directory: Directory, tmp_path: Path, which: str) -> None:
    url = directory.url if which == "starttls" else directory.ldaps_url
    ldap = _config(tmp_path, url, directory.other_ca_file)
    got = sign_in(repo, "alice", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.UNAVAILABLE and got.user is None
    reason = str(_events(repo, "login.error")[-1]["reason"])
    assert "certificate is not trusted" in reason and str(directory.other_ca_file) in reason
    assert PASSWORD not in reason


def test_a_name_the_certificate_does_not_hold_is_refused(
        repo: Repository, directory: Directory, tmp_path: Path) -> None:
    # the right CA, the right server, but reached by an address its certificate lacks
    url = directory.url.replace("localhost", "127.0.0.1")
    ldap = _config(tmp_path, url, directory.ca_file)
    assert sign_in(repo, "alice", PASSWORD, ldap=ldap, **ADDRESS).outcome is \
        Outcome.UNAVAILABLE
    reason = str(_events(repo, "login.error")[-1]["reason"])
    assert "not trusted" in reason and "mismatch" in reason, reason


def test_a_directory_that_is_down_is_a_clear_error_within_the_deadline(
        repo: Repository, directory: Directory, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    ldap = _config(tmp_path, f"ldap://localhost:{port}", directory.ca_file, timeout=2)
    got = sign_in(repo, "alice", PASSWORD, ldap=ldap, **ADDRESS)
    assert got.outcome is Outcome.UNAVAILABLE
    assert "cannot connect" in str(_events(repo, "login.error")[-1]["reason"])


def test_a_directory_that_never_answers_is_cut_at_the_deadline(
        repo: Repository, directory: Directory, tmp_path: Path) -> None:
    # a listener that accepts and then says nothing: the StartTLS request waits forever
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        ldap = _config(tmp_path, f"ldap://localhost:{port}", directory.ca_file, timeout=1)
        start = time.monotonic()
        got = sign_in(repo, "alice", PASSWORD, ldap=ldap, **ADDRESS)
        took = time.monotonic() - start
    assert got.outcome is Outcome.UNAVAILABLE
    assert "no answer within 1 s" in str(_events(repo, "login.error")[-1]["reason"])
    assert took < 5


def test_a_plain_ldap_url_without_tls_never_sends_a_password(tmp_path: Path,
                                                             directory: Directory) -> None:
    # there is no "no TLS" setting at all: ldap:// means StartTLS, which must succeed
    file = tmp_path / "ldap.toml"
    file.write_text(f'[ldap]\nurl = "ldap://localhost"\nca_file = "{directory.ca_file}"\n'
                    f'starttls = false\n')
    with pytest.raises(InputError, match=r"ldap\.starttls: unknown key"):
        load_ldap_config(file)


def test_group_mapping_rules() -> None:
    from certmgr.app.ldap_config import GroupRule

    rules = (GroupRule("cn=A,dc=x", "operator", ("lab:web*",)),
             GroupRule("cn=B,dc=x", "operator", ("lab:mx*",)),
             GroupRule("cn=C,dc=x", "operator"), GroupRule("cn=D,dc=x", "viewer"))
    assert map_groups(rules, frozenset()) == (None, ())
    assert map_groups(rules, frozenset({"cn=d,dc=x"})) == ("viewer", ())
    assert map_groups(rules, frozenset({"cn=a,dc=x", "cn=b,dc=x", "cn=d,dc=x"})) == \
        ("operator", ("lab:web*", "lab:mx*"))
    # one unrestricted operator group: every host
    assert map_groups(rules, frozenset({"cn=a,dc=x", "cn=c,dc=x"})) == ("operator", ())


def test_a_directory_user_with_totp_gives_a_code_once(repo: Repository,
                                                      ldap: LdapConfig) -> None:
    import datetime as dt
    import urllib.parse

    import pyotp

    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.OK
    uri = uc.enrol_totp(repo, "vera")
    totp = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, **ADDRESS).outcome is Outcome.FAILED
    code = totp.generate_otp(totp.timecode(dt.datetime.now(dt.UTC)))
    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, code=code, **ADDRESS).user
    assert sign_in(repo, "vera", PASSWORD, ldap=ldap, code=code, **ADDRESS).outcome is \
        Outcome.FAILED
    assert [e["failed"] for e in _events(repo, "login.failed")][-2:] == ["totp", "totp_reused"]
