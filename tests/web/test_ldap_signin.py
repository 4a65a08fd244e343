"""LDAP sign-in through the console's /login over real HTTPS, against a real slapd:
the mapped role's session, a restricted operator from a group with host patterns refused
on another host, throttling as for local users, a directory that cannot be used, and
``certmgr web --ldap`` refusing a bad file at start. Marker ``ldap``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from certmgr.app.ldap_config import LdapConfig, load_ldap_config
from certmgr.web.security import SESSION_COOKIE
from tests.app.slapd import PASSWORD, Directory, ldap_config_file, start_slapd
from tests.conftest import run_cli
from tests.web.conftest import Running
from tests.web.test_signin import _csrf, _login

pytestmark = pytest.mark.ldap


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    yield from start_slapd(tmp_path_factory.mktemp("slapd"))


def _write(tmp_path: Path, directory: Directory, ca: Path | None = None) -> Path:
    return ldap_config_file(tmp_path, directory.url, ca or directory.ca_file)


def _with_directory(web: Running, config: LdapConfig) -> Iterator[Running]:
    # starlette's State is not monkeypatch-friendly: set and put back by hand
    before = web.app.state.ldap
    web.app.state.ldap = config
    web.security.throttle.clear("address:127.0.0.1")  # failures of the other tests
    try:
        yield web
    finally:
        web.app.state.ldap = before


@pytest.fixture
def ldap_web(web: Running, directory: Directory, tmp_path: Path) -> Iterator[Running]:
    yield from _with_directory(web, load_ldap_config(_write(tmp_path, directory)))


def test_a_directory_operator_signs_in_and_is_refused_on_another_host(
        ldap_web: Running) -> None:
    with ldap_web.client(follow_redirects=False) as c:
        r = _login(c, "oscar", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
        assert c.cookies[SESSION_COOKIE]
        hosts = c.get("/hosts")
        assert hosts.status_code == 200
        r = c.post("/hosts/local/discover", data={"csrf": _csrf(hosts.text)})
        assert r.status_code == 403
    repo = ldap_web.console.repository()
    assert (repo.get_user("oscar").origin, repo.get_user("oscar").hosts) == \
        ("ldap", ("lab:web*",))
    denied = repo.list_audit(limit=5, action="access.denied")
    assert denied and denied[0].actor == "oscar"
    assert repo.list_audit(limit=5, action="login.ok")[0].detail["via"] == "ldap"


def test_directory_admins_get_the_admin_screens(ldap_web: Running) -> None:
    with ldap_web.client(follow_redirects=False) as c:
        assert _login(c, "alice", PASSWORD).status_code == 303
        assert c.get("/users").status_code == 200


def test_wrong_directory_passwords_are_throttled_like_local_ones(ldap_web: Running) -> None:
    with ldap_web.client(follow_redirects=False) as c:
        codes = [_login(c, "vera", f"wrong password {i}").status_code for i in range(10)]
        assert codes[:9] == [401] * 9 and codes[9] == 429
        assert _login(c, "vera", PASSWORD).status_code == 429
        # a user in no mapped group (vera is only a viewer there, unmapped in this file)
    ldap_web.security.throttle.clear("address:127.0.0.1")
    ldap_web.security.throttle.clear("user:vera")
    with ldap_web.client(follow_redirects=False) as c:
        r = _login(c, "vera", PASSWORD)
        assert r.status_code == 403 and "none of the directory groups" in r.text
    ldap_web.security.throttle.clear("address:127.0.0.1")


@pytest.fixture
def untrusted_web(web: Running, directory: Directory, tmp_path: Path) -> Iterator[Running]:
    config = load_ldap_config(_write(tmp_path, directory, directory.other_ca_file))
    yield from _with_directory(web, config)


def test_a_directory_with_an_untrusted_certificate_answers_503_without_throttling(
        untrusted_web: Running) -> None:
    web = untrusted_web
    with web.client(follow_redirects=False) as c:
        r = _login(c, "alice", PASSWORD)
        assert r.status_code == 503 and "audit log" in r.text
        assert PASSWORD not in r.text
    error = web.console.repository().list_audit(limit=1, action="login.error")[0]
    assert "certificate is not trusted" in str(error.detail["reason"])
    assert web.security.throttle.retry_after(["user:alice"]) is None


@pytest.mark.parametrize(("text", "named"), [
    ('[ldap]\nurl = "http://x"\n', "ldap.url"),
    ('[ldap]\nurl = "ldap://x"\nca_file = "/nonexistent/ca.pem"\n', "ldap.ca_file"),
    ("[ldap\n", "not valid TOML"),
    ('[ldap]\nurl = "ldap://x"\nca_file = "CA"\ntimeout = 600\n', "ldap.timeout"),
    ('[ldap]\nurl = "ldap://x"\nca_file = "CA"\nuser_dn = "uid=x,dc=y"\n', "ldap.user_dn"),
    ('[ldap]\nurl = "ldap://x"\nca_file = "CA"\nuser_dn = "uid={username},dc=y"\n'
     'group_base = "dc=y"\n[[ldap.group]]\ndn = "cn=a,dc=y"\nrole = "viewer"\n'
     'hosts = ["lab:*"]\n', "ldap.group[0].hosts"),
    ('[ldap]\nurl = "ldap://x"\nca_file = "CA"\n[ldap.search]\nbase = "dc=y"\n'
     'bind_dn = "cn=s,dc=y"\npassword_env = "CERTMGR_TEST_UNSET_VARIABLE"\n',
     "ldap.search.password_env"),
])
def test_certmgr_web_refuses_a_bad_ldap_file_at_start(
        cli: CliRunner, home: Path, tmp_path: Path, directory: Directory, text: str,
        named: str) -> None:
    file = tmp_path / "bad.toml"
    file.write_text(text.replace('"CA"', f'"{directory.ca_file}"'))
    code, _out, err = run_cli(cli, "web", "--ldap", str(file), "--listen", "127.0.0.1:0")
    assert code == 2 and named in err and len(err.strip().splitlines()) == 1, err
