"""Over real HTTPS: the account page's TOTP enrolment (pending key in the session, the
QR code as an SVG image), token creation by an admin (page and API, shown once, stored
hashed), the audit log's filters and pages, the certificate list's state filter."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re

import httpx
import pyotp

from certmgr.app import users as uc
from certmgr.web.security import SESSION_COOKIE
from tests.web.conftest import PASSWORD, Running


def _page_client(web: Running, user: str) -> tuple[httpx.Client, str]:
    s = web.security.new_session(user)
    return web.client(cookies={SESSION_COOKIE: s.sid}, follow_redirects=False), s.csrf


def test_enrolment_shows_the_key_once_and_confirms_it_with_a_code(web: Running) -> None:
    repo = web.console.repository()
    uc.add_user(repo, "self1", "viewer", password=PASSWORD)
    client, csrf = _page_client(web, "self1")
    with client:
        page = client.get("/account")
        assert page.status_code == 200 and "No second factor" in page.text
        started = client.post("/account/totp", data={"csrf": csrf})
        assert started.status_code == 200
        secret = re.search(r'id="secret" class="mono" value="([A-Z2-7]+)"', started.text)
        assert secret is not None
        svg = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', started.text)
        assert svg is not None
        image = base64.b64decode(svg.group(1)).decode()
        assert image.startswith("<svg") and "<script" not in image and "style=" not in image
        assert not repo.get_user("self1").totp
        assert secret.group(1) not in client.get("/account").text  # shown once
        refused = client.post("/account/totp/confirm", data={"csrf": csrf, "code": "000000"})
        assert refused.status_code == 422 and "not the authenticator" in refused.text
        code = pyotp.TOTP(secret.group(1)).now()
        done = client.post("/account/totp/confirm", data={"csrf": csrf, "code": code})
        assert done.status_code == 200 and "is enrolled" in done.text
        assert repo.get_user("self1").totp
        again = client.post("/account/totp", data={"csrf": csrf})
        assert again.status_code == 409  # remove first: a session alone cannot swap it
        wrong = client.post("/account/totp/remove", data={"csrf": csrf, "password": "nope"})
        assert wrong.status_code == 422 and repo.get_user("self1").totp
        gone = client.post("/account/totp/remove", data={"csrf": csrf, "password": PASSWORD})
        assert gone.status_code == 200 and not repo.get_user("self1").totp
        confirm_late = client.post("/account/totp/confirm", data={"csrf": csrf, "code": code})
        assert confirm_late.status_code == 409  # no enrolment waits any more


def test_an_admin_creates_a_token_shown_once_and_stored_hashed(web: Running) -> None:
    client, csrf = _page_client(web, "admin")
    with client:
        r = client.post("/tokens", data={"csrf": csrf, "user": "viewer", "name": "ci reader",
                                         "expires": "30d"})
        assert r.status_code == 201, r.text
        token = re.search(r'value="(cmt_[A-Za-z0-9_-]+)"', r.text)
        assert token is not None
        for bad, why in ((("viewer", "9999d"), "expiry &#39;9999d&#39;"),
                         (("nosuch", "30d"), "no user nosuch")):
            r = client.post("/tokens", data={"csrf": csrf, "user": bad[0], "expires": bad[1]})
            assert r.status_code == 422 and why in r.text, r.text
    with web.client() as anonymous:
        r = anonymous.get("/api/v1/status", headers={"authorization": f"Bearer {token.group(1)}"})
        assert r.status_code == 200
    digest = hashlib.sha256(token.group(1).encode()).hexdigest()
    rows = web.console.repository()._db.read().rows("SELECT sha256 FROM api_tokens")
    assert any(digest in str(row[0]) for row in rows)
    assert all(token.group(1) not in str(row[0]) for row in rows)
    with web.client("admin") as admin:
        r = admin.post("/api/v1/tokens", json={"user": "viewer", "name": "api made",
                                               "expires": "7d"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["token"].startswith("cmt_") and body["record"]["name"] == "api made"
        expires = dt.datetime.fromisoformat(body["record"]["expires"])
        assert dt.timedelta(days=6) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
        listed = admin.get("/api/v1/tokens").json()["items"]
        assert all("token" not in t for t in listed)
        assert admin.post("/api/v1/tokens", json={"user": "nosuch"}).status_code == 404
        assert admin.post("/api/v1/tokens", json={"user": "viewer", "expires": "0d"}
                          ).status_code == 422
        assert admin.post("/api/v1/tokens", json={"user": "viewer", "expires": "4000d"}
                          ).status_code == 422
    with web.client("fullop") as op:
        assert op.post("/api/v1/tokens", json={"user": "fullop"}).status_code == 403


def test_the_audit_log_filters_and_pages(web: Running) -> None:
    with web.client("op") as op:
        assert op.post("/api/v1/hosts/lab:mail9/discover").status_code == 403
    with web.client("viewer") as v:
        r = v.get("/api/v1/audit", params={"actor": "op", "result": "refused",
                                          "subject": "MAIL9"})
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert items and all(e["actor"] == "op" and e["action"] == "access.denied"
                             for e in items)
        today = dt.datetime.now(dt.UTC).date()
        r = v.get("/api/v1/audit", params={"since": (today + dt.timedelta(days=1)).isoformat()})
        assert r.json()["items"] == []
        first = v.get("/api/v1/audit", params={"limit": 2}).json()
        assert len(first["items"]) == 2 and first["next_offset"] == 2
        second = v.get("/api/v1/audit", params={"limit": 2, "offset": 2}).json()
        assert first["items"][-1]["id"] > second["items"][0]["id"]
        for bad in ({"result": "maybe"}, {"since": "2026-13-40"}, {"limit": 501},
                    {"since": "2026-02-02", "until": "2026-02-01"}):
            r = v.get("/api/v1/audit", params=bad)
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid", (bad, r.text)
    client, _ = _page_client(web, "viewer")
    with client:
        r = client.get("/audit", params={"actor": "op", "result": "refused"})
        assert r.status_code == 200 and "lab:mail9" in r.text
        assert "login.ok" not in r.text
        r = client.get("/audit", params={"until": "yesterday"})
        assert r.status_code == 422 and "until &#39;yesterday&#39; is not an ISO date" in r.text


def test_the_certificate_list_filters_by_state(web: Running) -> None:
    with web.client("viewer") as v:
        every = v.get("/api/v1/certificates", params={"limit": 500}).json()["items"]
        for state in ("expired", "renew", "valid", "none", "revoked"):
            r = v.get("/api/v1/certificates", params={"state": state, "limit": 500})
            assert r.status_code == 200, r.text
            wanted = {"none": {"none", "pending"}}.get(state, {state})
            got = r.json()["items"]
            assert all(i["status"] in wanted for i in got), (state, got)
            if state != "revoked":
                assert [i["name"] for i in got] == [i["name"] for i in every
                                                    if i["status"] in wanted]
        assert any(i["name"] == "certmgr-web" for i in v.get(
            "/api/v1/certificates", params={"state": "valid"}).json()["items"])
        r = v.get("/api/v1/certificates", params={"state": "soon"})
        assert r.status_code == 422
    client, _ = _page_client(web, "viewer")
    with client:
        r = client.get("/certificates", params={"state": "valid"})
        assert r.status_code == 200 and "certmgr-web" in r.text
        assert 'value="valid" selected' in r.text
        r = client.get("/certificates", params={"state": "expired"})
        assert r.status_code == 200 and "certmgr-web" not in r.text
        assert client.get("/certificates", params={"state": "soon"}).status_code == 422


def test_a_directory_user_enrols_too_and_removes_with_a_code(web: Running) -> None:
    repo = web.console.repository()
    repo.save_directory_user("dir1", "viewer", ())
    client, csrf = _page_client(web, "dir1")
    with client:
        page = client.get("/account")
        assert "password is the directory" in page.text
        assert "Change your password" not in page.text
        started = client.post("/account/totp", data={"csrf": csrf})
        secret = re.search(r'id="secret" class="mono" value="([A-Z2-7]+)"', started.text)
        assert secret is not None
        totp = pyotp.TOTP(secret.group(1))
        step = totp.timecode(dt.datetime.now(dt.UTC))
        done = client.post("/account/totp/confirm",
                           data={"csrf": csrf, "code": totp.generate_otp(step)})
        assert done.status_code == 200 and repo.get_user("dir1").totp
        assert 'name="password"' not in done.text  # removal asks for a code instead
        refused = client.post("/account/totp/remove",
                              data={"csrf": csrf, "code": totp.generate_otp(step)})
        assert refused.status_code == 422 and repo.get_user("dir1").totp  # used once
        gone = client.post("/account/totp/remove",
                           data={"csrf": csrf, "code": totp.generate_otp(step + 1)})
        assert gone.status_code == 200 and not repo.get_user("dir1").totp
