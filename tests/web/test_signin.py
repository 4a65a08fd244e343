"""Sign-in over real HTTPS: the login form's CSRF token, cookie flags, session rotation,
first-login password change, sign-out, idle timeout, throttling, security headers."""

from __future__ import annotations

import re

import httpx

from certmgr.app import users as uc
from certmgr.web.security import LOGIN_COOKIE, SESSION_COOKIE
from tests.web.conftest import PASSWORD, Running


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, html[:500]
    return m.group(1)


def _login(client: httpx.Client, user: str, password: str) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"username": user, "password": password,
                                       "csrf": _csrf(page.text)})


def test_first_sign_in_changes_the_one_time_password_then_signs_out(web: Running) -> None:
    one_time = uc.add_user(web.console.repository(), "newbie", "operator").one_time_password
    assert one_time
    with web.client(follow_redirects=False) as c:
        page = c.get("/login")
        login_cookie = page.headers["set-cookie"]
        assert login_cookie.startswith(f"{LOGIN_COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
            assert flag in login_cookie
        c.cookies.set(SESSION_COOKIE, "an-old-fixated-id", domain="localhost.local")
        r = c.post("/login", data={"username": "newbie", "password": one_time,
                                   "csrf": _csrf(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/password"
        cookie = next(v for v in r.headers.get_list("set-cookie")
                      if v.startswith(SESSION_COOKIE))
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
            assert flag in cookie
        sid = c.cookies[SESSION_COOKIE]
        assert sid != "an-old-fixated-id" and len(sid) >= 40
        # everything but the password page waits for the change
        assert c.get("/").headers["location"] == "/password"
        form = c.get("/password")
        assert "one-time password" in form.text
        token = _csrf(form.text)
        r = c.post("/password", data={"current": one_time, "new": "my own long secret",
                                      "confirm": "my own long secret", "csrf": token})
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert c.cookies[SESSION_COOKIE] != sid  # rotated again
        home = c.get("/")
        assert home.status_code == 200 and "Dashboard" in home.text
        r = c.post("/logout", data={"csrf": _csrf(home.text)})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        assert c.get("/").headers["location"] == "/login"
    events = [(e.action, e.actor) for e in web.console.repository().list_audit(limit=20)]
    assert ("login.ok", "newbie") in events and ("logout", "newbie") in events
    assert ("user.save", "newbie") in events  # the password change names the user


def test_a_wrong_password_is_refused_and_audited(web: Running) -> None:
    with web.client(follow_redirects=False) as c:
        r = _login(c, "viewer", "not the password at all")
        assert r.status_code == 401 and "not right" in r.text
        assert SESSION_COOKIE not in c.cookies
        r = _login(c, "nobody", "not the password at all")
        assert r.status_code == 401
    failed = web.console.repository().list_audit(limit=5, action="login.failed")
    assert {e.object for e in failed} >= {"user:viewer", "user:nobody"}


def test_security_headers_on_pages_and_api(web: Running) -> None:
    with web.client(follow_redirects=False) as c:
        for path in ("/login", "/api/v1/openapi.json", "/static/app.css"):
            h = c.get(path).headers
            csp = h["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert h["strict-transport-security"].startswith("max-age=")
            assert h["referrer-policy"] == "no-referrer"
            assert h["x-content-type-options"] == "nosniff"
        assert "<script>" not in c.get("/login").text  # no inline script


def test_an_idle_session_ends(web: Running) -> None:
    session = web.security.new_session("viewer")
    session.seen -= web.security.idle_timeout + 1
    with web.client(cookies={SESSION_COOKIE: session.sid}, follow_redirects=False) as c:
        assert c.get("/").headers["location"] == "/login"


def test_failed_sign_ins_are_throttled_from_the_tenth(web: Running) -> None:
    uc.add_user(web.console.repository(), "target", "viewer", password=PASSWORD)
    web.security.throttle.clear("address:127.0.0.1")  # failures of the other tests
    with web.client(follow_redirects=False) as c:
        codes = [_login(c, "target", f"wrong password {i}").status_code for i in range(10)]
        assert codes[:9] == [401] * 9 and codes[9] == 429
        r = _login(c, "target", PASSWORD)  # even the right password waits now
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= 15 * 60
    throttled = web.console.repository().list_audit(limit=5, action="login.throttled")
    assert throttled and throttled[0].object == "user:target"


def test_failures_from_one_address_are_throttled_across_user_names(web: Running) -> None:
    web.security.throttle.clear("address:127.0.0.1")
    with web.client(follow_redirects=False) as c:
        codes = [_login(c, f"guess{i}", "wrong password").status_code for i in range(10)]
        assert codes[9] == 429 and set(codes[:9]) == {401}
    web.security.throttle.clear("address:127.0.0.1")


def test_admin_screens_add_a_user_and_a_restricted_operator_sees_only_its_hosts(
        web: Running) -> None:
    admin = web.security.new_session("admin")
    with web.client(cookies={SESSION_COOKIE: admin.sid}, follow_redirects=False) as c:
        r = c.post("/users", data={"name": "screen-op", "role": "operator",
                                   "hosts": "lab:web*", "csrf": admin.csrf})
        assert r.status_code == 201 and "One-time password" in r.text
        r = c.post("/users", data={"name": "Bad Name", "role": "viewer", "csrf": admin.csrf})
        assert r.status_code == 422 and "not valid" in r.text
    op = web.security.new_session("op")  # restricted to lab:web*
    with web.client(cookies={SESSION_COOKIE: op.sid}, follow_redirects=False) as c:
        hosts = c.get("/hosts").text
        assert "Discover on local" not in hosts
        r = c.post("/hosts/local/discover", data={"csrf": op.csrf})
        assert r.status_code == 403 and "may not act on host local" in r.text
        assert c.get("/users").status_code == 403
    denied = web.console.repository().list_audit(limit=5, action="access.denied")
    assert any(e.actor == "op" and "local" in e.detail["reason"] for e in denied)


def test_sign_in_with_a_totp_code(web: Running) -> None:
    import urllib.parse

    import pyotp

    repo = web.console.repository()
    uc.add_user(repo, "twofa", "viewer", password=PASSWORD)
    uri = uc.enrol_totp(repo, "twofa")
    totp = pyotp.TOTP(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0])
    web.security.throttle.clear("address:127.0.0.1")
    with web.client(follow_redirects=False) as c:
        assert _login(c, "twofa", PASSWORD).status_code == 401  # the code is missing
        page = c.get("/login")
        r = c.post("/login", data={"username": "twofa", "password": PASSWORD,
                                   "code": totp.now(), "csrf": _csrf(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/"
    web.security.throttle.clear("address:127.0.0.1")


def test_definition_screens_edit_and_apply_with_the_cli_validation(web: Running) -> None:
    s = web.security.new_session("fullop")
    with web.client(cookies={SESSION_COOKIE: s.sid}, follow_redirects=False) as c:
        toml = ('[definitions."applied.example"]\nsans = ["www.applied.example"]\n'
                '[definitions."second.example"]\n')
        r = c.post("/definitions/apply", data={"toml": toml, "csrf": s.csrf})
        assert r.status_code == 200 and "applied.example: created" in r.text
        r = c.post("/definitions/apply", data={"toml": toml, "csrf": s.csrf})
        assert "applied.example: unchanged" in r.text
        r = c.post("/definitions/apply", data={"toml": "[oops", "csrf": s.csrf})
        assert r.status_code == 422 and "not valid TOML" in r.text
        form = c.get("/definitions/applied.example/edit")
        assert form.status_code == 200 and "www.applied.example" in form.text
        r = c.post("/definitions/applied.example/edit",
                   data={"cn": "applied.example", "sans": "new.applied.example",
                         "key": "ec384", "issuer": "builtin", "targets": "", "csrf": s.csrf})
        assert r.status_code == 303
        r = c.post("/definitions/applied.example/edit",
                   data={"cn": "bad..name", "key": "ec384", "csrf": s.csrf})
        assert r.status_code == 422 and "bad..name" in r.text
    d = web.console.definition("applied.example")
    assert d.sans == ("new.applied.example",) or list(d.sans) == ["new.applied.example"]
    assert d.key_type == "ec384"
