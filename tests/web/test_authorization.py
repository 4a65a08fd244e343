"""Every route of the console (taken from the router, not a hand list), asked by
anonymous, a viewer, a restricted operator and an admin, over real HTTPS."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from certmgr.app.requests import new_request
from certmgr.web.security import POLICY, SESSION_COOKIE
from tests.web.conftest import PASSWORD, Running

ROLES = ("anonymous", "viewer", "op", "admin")
_RANK = {"viewer": 0, "operator": 1, "admin": 2}
_USER_RANK = {"viewer": 0, "op": 1, "admin": 2}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/definitions"): {"name": "walk-def", "cn": "walk.example"},
    ("PUT", "/api/v1/definitions/{name}"): {"sans": ["walk2.example"]},
    ("POST", "/api/v1/deployments"): {"definition": "certmgr-web", "targets": []},
    ("POST", "/api/v1/rollbacks"): {"target": "lab:web1/apache2"},
    ("POST", "/api/v1/users"): {"name": "walk-user", "role": "viewer"},
    ("POST", "/api/v1/certificates/{name}/key"): {"password": PASSWORD},
    ("POST", "/api/v1/certificates/{name}/export"): {"format": "combined",
                                                      "password": PASSWORD},
    ("POST", "/api/v1/requests"): {"definition": "certmgr-web"},
    ("POST", "/api/v1/requests/{name}/receive"): {
        "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
    ("POST", "/api/v1/hosts"): {"url": "ssh://root@walk.invalid", "key": "/nonexistent/key",
                                "known_hosts": "walk.invalid ssh-ed25519 AAAA"},
    # an endpoint no one has: the walk never probes anything (test_monitoring does)
    ("POST", "/api/v1/scans"): {"endpoints": ["0" * 16]},
    ("POST", "/api/v1/issuers"): {"name": "walk-issuer", "directory": "ftp://invalid/"},
    ("PUT", "/api/v1/issuers/{name}"): {"ari": True},
}


def _routes(web: Running) -> list[tuple[str, str]]:
    """(method, path) of every route the application serves, included routers flattened
    the way FastAPI itself walks them for the OpenAPI document."""
    out = []
    for route in iter_route_contexts(web.app.routes):
        if isinstance(route.original_route, Mount):
            continue
        assert isinstance(route.original_route, (APIRoute, Route)), route
        assert route.path is not None
        out += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return out


def _url(method: str, path: str, host: str = "lab:web1") -> str:
    values = {"name": "nosuch-user" if "/users/" in path else
              ("nosuch" if not path.startswith("/api/") and method == "POST" else "certmgr-web"),
              # a host's page: one that is there ("local"); acting on one: the given host
              "host": "local" if path.endswith("{host:path}") else host,
              "job_id": "0" * 32, "token_id": "999999", "fmt": "pem",
              "endpoint_id": "0" * 16}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


def test_every_route_has_a_rule_and_every_rule_a_route(web: Running) -> None:
    routes = set(_routes(web))
    assert routes == set(POLICY), (routes ^ set(POLICY))
    assert len(routes) > 30


def _api_call(client: httpx.Client, method: str, path: str, host: str = "lab:web1"
              ) -> httpx.Response:
    body = BODIES.get((method, path))
    return client.request(method, _url(method, path, host), json=body)


def test_api_routes_by_role(web: Running) -> None:
    api = [(m, p) for m, p in _routes(web) if p.startswith("/api/")]
    # a pending request, so that its CSR is there for every reader
    new_request(web.console.repository(), "certmgr-web")
    seen: dict[str, int] = {}
    for role in ROLES:
        with web.client(None if role == "anonymous" else role) as client:
            for method, path in api:
                rule = POLICY[(method, path)]
                r = _api_call(client, method, path)
                where = f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
                assert r.status_code < 500, where
                if rule.role is None:
                    assert r.status_code == 200, where
                elif role == "anonymous":
                    assert r.status_code == 401, where
                    assert r.headers["www-authenticate"] == "Bearer"
                    assert r.json()["error"]["code"] == "unauthorized"
                elif _USER_RANK[role] < _RANK[rule.role]:
                    assert r.status_code == 403, where
                    assert r.json()["error"]["code"] == "forbidden"
                else:
                    assert r.status_code not in (401, 403), where
                if role == "viewer" and method == "GET" and rule.role == "viewer" \
                        and "{job_id}" not in path and "{endpoint_id}" not in path:
                    assert r.status_code == 200, where  # every collection GET
                if role == "viewer" and method != "GET":
                    assert r.status_code == 403, where  # every mutating method
                seen[role] = seen.get(role, 0) + 1
    assert seen["viewer"] == len(api)


def test_a_restricted_operator_is_refused_on_another_host_and_it_is_audited(
        web: Running) -> None:
    with web.client("op") as op:
        r = op.post("/api/v1/hosts/lab:mail1/discover")
        assert r.status_code == 403, r.text
        assert "lab:mail1" in r.json()["error"]["message"]
        assert op.post("/api/v1/hosts/lab:web1/discover").status_code == 202
    with web.client("admin") as admin:
        events = admin.get("/api/v1/audit", params={"action": "access.denied"}).json()["items"]
    assert any(e["actor"] == "op" and "lab:mail1" in e["detail"]["reason"] for e in events)


def _session(web: Running, user: str) -> tuple[dict[str, str], str]:
    s = web.security.new_session(user)
    return {SESSION_COOKIE: s.sid}, s.csrf


@pytest.mark.parametrize("role", ROLES)
def test_page_routes_by_role(web: Running, role: str) -> None:
    pages = [(m, p) for m, p in _routes(web) if not p.startswith("/api/")]
    for method, path in pages:
        rule = POLICY[(method, path)]
        cookies, csrf = ({}, "") if role == "anonymous" else _session(web, role)
        with web.client(cookies=cookies, follow_redirects=False) as client:
            if method == "GET" and path.endswith("/events"):
                r = client.get(_url(method, path))  # an unknown job: no stream
            elif method == "GET":
                r = client.get(_url(method, path))
            else:
                r = client.post(_url(method, path), data={"csrf": csrf})
        where = f"{role} {method} {path}: {r.status_code} {r.text[:200]}"
        assert r.status_code < 500, where
        if rule.role is None:
            continue
        if role == "anonymous":
            assert r.status_code == 303 and r.headers["location"] == "/login", where
        elif _USER_RANK[role] < _RANK[rule.role]:
            assert r.status_code == 403, where
        else:
            assert r.status_code not in (401, 403), where


def test_a_form_without_its_csrf_token_is_refused(web: Running) -> None:
    cookies, csrf = _session(web, "admin")
    with web.client(cookies=cookies, follow_redirects=False) as client:
        r = client.post("/definitions", data={"name": "x1", "cn": "x1.example"})
        assert r.status_code == 403 and "CSRF" in r.text
        wrong = csrf[:-1] + ("B" if csrf.endswith("A") else "A")  # always another token
        r = client.post("/definitions", data={"name": "x1", "cn": "x1.example",
                                              "csrf": wrong})
        assert r.status_code == 403
        r = client.post("/definitions", data={"name": "x1", "cn": "x1.example", "csrf": csrf})
        assert r.status_code == 303
    with web.client(follow_redirects=False) as client:
        assert client.get("/login").status_code == 200
        r = client.post("/login", data={"username": "admin", "password": "x"})
        assert r.status_code == 403 and "CSRF" in r.text


# What a viewer may not read (the issue: key material and the admin-only collections:
# users, tokens, issuers' secrets, settings); every other GET under /api/v1 answers it 200.
VIEWER_REFUSED = re.compile(r"^/api/v1/(users|tokens|issuers|settings|notifications)(/|$)"
                            r"|/(key|keys|secret|secrets)(/|$)")


def test_only_the_sign_in_form_and_the_openapi_document_are_open(web: Running) -> None:
    open_routes = {route for route in _routes(web) if POLICY[route].role is None}
    assert open_routes == {("GET", "/api/v1/openapi.json"), ("GET", "/login"),
                           ("POST", "/login")}


def test_a_viewer_token_is_refused_only_key_material_and_admin_collections(
        web: Running) -> None:
    gets = [(m, p) for m, p in _routes(web) if p.startswith("/api/v1/") and m == "GET"]
    refused = []
    with web.client("viewer") as client:
        for method, path in gets:
            r = _api_call(client, method, path)
            if r.status_code == 403:
                refused.append(path)
            elif "{job_id}" not in path and "{endpoint_id}" not in path:
                assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
    assert refused, "the walk met no admin-only collection"
    assert [p for p in refused if not VIEWER_REFUSED.search(p)] == []


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|javascript:", re.I)


def _secure_headers(r: httpx.Response, where: str) -> None:
    h = r.headers
    csp = h.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives.get("script-src") == ["'self'"], where  # no inline script, no eval
    assert directives.get("frame-ancestors") == ["'none'"], where
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, where
    assert h.get("strict-transport-security", "").startswith("max-age="), where
    assert int(h["strict-transport-security"].split(";")[0].split("=")[1]) >= 31536000, where
    assert h.get("referrer-policy") == "no-referrer", where
    if "text/html" in h.get("content-type", ""):
        assert _INLINE_SCRIPT.search(r.text) is None, where


def test_every_answer_carries_the_security_headers_and_no_page_inline_script(
        web: Running) -> None:
    """Every route, asked anonymously (401s, redirects to /login) and as a viewer (pages,
    JSON, 403s, 404s): CSP without inline script and with frame-ancestors 'none', HSTS,
    Referrer-Policy; the HTML has no inline script or event handler attribute."""
    cookies, csrf = _session(web, "viewer")
    for role in ("anonymous", "viewer"):
        for method, path in _routes(web):
            api = path.startswith("/api/")
            if api:
                client = web.client(None if role == "anonymous" else "viewer")
            else:
                client = web.client(cookies=cookies if role == "viewer" else {},
                                    follow_redirects=False)
            with client:
                if api:
                    r = _api_call(client, method, path)
                elif method == "GET":
                    r = client.get(_url(method, path))
                elif path == "/logout":
                    continue  # would end the session the walk goes on with
                else:
                    r = client.post(_url(method, path), data={"csrf": csrf})
            _secure_headers(r, f"{role} {method} {path}: {r.status_code}")


def test_every_list_route_answers_a_page(web: Running) -> None:
    """Every collection GET of the API (from the router) that answers a list answers one
    page of it: ``limit=1`` gives one item at most, with the offset, the limit and the
    total (the audit log: ``next_offset``); ``limit=501`` is refused."""
    gets = [p for m, p in _routes(web) if m == "GET" and p.startswith("/api/v1/")
            and "{" not in p]
    lists = []
    with web.client("admin") as admin:
        for path in gets:
            first = admin.get(path)
            if not (first.headers.get("content-type", "").startswith("application/json")
                    and isinstance(first.json(), dict) and "items" in first.json()):
                continue
            lists.append(path)
            body = admin.get(path, params={"limit": 1, "offset": 0}).json()
            assert len(body["items"]) <= 1 and (body["offset"], body["limit"]) == (0, 1), path
            assert ("next_offset" if path.endswith("/audit") else "total") in body, path
            assert admin.get(path, params={"limit": 501}).status_code == 422, path
    assert len(lists) >= 10, lists
