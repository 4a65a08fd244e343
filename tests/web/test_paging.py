"""Every list of the API a page at a time (issue 17: "Lists are paginated"), over real
HTTPS, on SQLite and PostgreSQL: the pages of each list add up to the whole list, in
its order, with no row twice and none left out; ``total`` counts them; the bounds of
``offset`` and ``limit`` are enforced; the definitions' name filter; the screens show
"N of TOTAL" with links to the pages around."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from certmgr.app import users as uc
from certmgr.app.requests import new_request
from certmgr.repository.records import HostKind
from certmgr.web.security import SESSION_COOKIE
from tests.web.conftest import Running

# each list and what tells its rows apart
LISTS = {"/api/v1/definitions": "name", "/api/v1/certificates": "name",
         "/api/v1/hosts": "name", "/api/v1/deployments": "id", "/api/v1/requests": "id",
         "/api/v1/issuers": "name", "/api/v1/users": "name", "/api/v1/tokens": "id",
         "/api/v1/endpoints": "id", "/api/v1/audit": "id"}
N = 7  # more than two pages of 3 of each


@pytest.fixture(scope="module")
def filled(web: Running) -> Running:
    """N more of each thing the lists show."""
    repo = web.console.repository()
    with web.client("admin") as admin:
        for i in range(N):
            r = admin.post("/api/v1/definitions", json={
                "name": f"page_{i}" if i % 2 else f"Page-{i}", "cn": f"p{i}.example",
                "issuer": "external"})
            assert r.status_code == 201, r.text
    for i in range(N):
        repo.upsert_host(f"ssh://root@page{i}.invalid", HostKind.SSH,
                         address=f"page{i}.invalid")
        repo.create_deployment("certmgr-web", 1, f"local/page:{i}")
        new_request(repo, f"page_{i}" if i % 2 else f"Page-{i}")
        repo.save_issuer(f"outside-{i}", "external")
        uc.add_user(repo, f"pager{i}", "viewer")
        uc.create_token(repo, f"pager{i}", expires=None)
    return web


def _pages(client: httpx.Client, path: str, limit: int, **params: Any
           ) -> list[dict[str, Any]]:
    """Every page of ``path`` at ``limit`` a page, checked as they come."""
    seen: list[dict[str, Any]] = []
    offset = 0
    for _ in range(1000):
        r = client.get(path, params={**params, "offset": offset, "limit": limit})
        assert r.status_code == 200, f"{path}: {r.text[:300]}"
        body = r.json()
        assert body["offset"] == offset and body["limit"] == limit
        assert len(body["items"]) <= limit
        seen += body["items"]
        if "total" in body:
            assert body["total"] >= 0 and (len(body["items"]) == limit
                                           or offset + len(body["items"]) == body["total"])
            more = offset + limit < body["total"]
        else:  # the audit log: next_offset instead of a count
            more = body["next_offset"] is not None
            assert body["next_offset"] in (None, offset + limit)
        if not more:
            return seen
        offset += limit
    raise AssertionError(f"{path}: more than 1000 pages")


@pytest.mark.parametrize("path", sorted(LISTS))
def test_the_pages_of_each_list_add_up_to_the_whole(filled: Running, path: str) -> None:
    key = LISTS[path]
    with filled.client("admin") as admin:
        whole = admin.get(path, params={"limit": 500}).json()
        assert "items" in whole  # the key earlier clients read stays
        if "total" in whole:
            assert whole["total"] == len(whole["items"]), path
        if path != "/api/v1/endpoints":  # no probe ran: the monitoring list is empty
            assert len(whole["items"]) >= N, path
        for limit in (1, 3):
            paged = _pages(admin, path, limit)
            ids = [item[key] for item in paged]
            assert len(ids) == len(set(ids)), f"{path} at {limit}: a row twice"
            if path == "/api/v1/audit":  # reading writes no event, but the pages may
                assert set(ids) >= {item[key] for item in whole["items"]}
            else:  # (by key: a token's last use moves as the walk uses it)
                assert ids == [item[key] for item in whole["items"]], f"{path} at {limit}"


def test_the_order_of_each_list(filled: Running) -> None:
    with filled.client("admin") as admin:
        def items(path: str) -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = admin.get(path, params={"limit": 500}).json()["items"]
            return found

        names = [d["name"] for d in items("/api/v1/definitions")]
        assert names == sorted(names)
        hosts = [h["name"] for h in items("/api/v1/hosts")]
        assert hosts[0] == "local" and hosts[1:] == sorted(hosts[1:])
        ids = [d["id"] for d in items("/api/v1/deployments")]
        assert ids == sorted(ids, reverse=True)  # newest first
        assert [r["id"] for r in items("/api/v1/requests")] == \
            sorted(r["id"] for r in items("/api/v1/requests"))
        assert [t["id"] for t in items("/api/v1/tokens")] == \
            sorted(t["id"] for t in items("/api/v1/tokens"))


def test_the_bounds_of_offset_and_limit(filled: Running) -> None:
    with filled.client("admin") as admin:
        for path in LISTS:
            for params in ({"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "x"}):
                r = admin.get(path, params=params)
                assert r.status_code == 422, f"{path} {params}: {r.status_code}"
                assert r.json()["error"]["code"]
            past = admin.get(path, params={"offset": 100_000}).json()
            assert past["items"] == [], path
        r = admin.get("/api/v1/definitions", params={"q": "x" * 256})
        assert r.status_code == 422


def test_the_definitions_name_filter(filled: Running) -> None:
    with filled.client("viewer") as viewer:
        def names(q: str, **params: Any) -> tuple[list[str], int]:
            body = viewer.get("/api/v1/definitions", params={"q": q, **params}).json()
            return [d["name"] for d in body["items"]], body["total"]

        assert names("page-") == (["Page-0", "Page-2", "Page-4", "Page-6"], 4)  # any case
        # "_" and "%" are themselves, not LIKE's wildcards
        assert names("page_") == (["page_1", "page_3", "page_5"], 3)
        assert names("%") == ([], 0)
        assert names("PAGE", limit=2, offset=6) == (["page_5"], 7)
        assert names("nothing-holds-this") == ([], 0)


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_screens_show_where_a_page_is(filled: Running) -> None:
    s = filled.security.new_session("admin")
    with filled.client(cookies={SESSION_COOKIE: s.sid}) as client:
        r = client.get("/definitions", params={"q": "page"})
        assert r.status_code == 200
        assert "1–7 of 7" in _text(r.text) and "Next page" not in r.text
        total = filled.console.definitions().total
        r = client.get("/definitions", params={"offset": 1})
        assert f"2–{total} of {total}" in _text(r.text) and "Previous page" in r.text
        # the deploy screen: 20 definitions a page, filtered by name
        r = client.get("/deploy", params={"q": "page_"})
        assert "1–3 of 3" in _text(r.text)
        assert r.text.count("<section class=\"card\"") == 3
        assert "Page-0" not in r.text
        r = client.get("/deploy")
        assert "Pages of the history" in r.text
        for path in ("/hosts", "/users", "/requests", "/settings/issuers"):
            r = client.get(path)
            assert r.status_code == 200, path
            assert re.search(r"1–\d+ of \d+", _text(r.text)), path
        users = filled.console.users().total
        r = client.get("/users", params={"users": 3, "tokens": 2})
        assert f"4–{users} of {users}" in _text(r.text)
        assert 'href="/users?tokens=2&amp;users=0">Previous page' in r.text
        assert 'href="/users?users=3&amp;tokens=0">Previous page' in r.text


def test_a_hosts_slots_name_the_definitions_targeting_them(filled: Running) -> None:
    """A host's page names, per slot, the definitions that target it (read from the
    targets' index, whether the target names its host or not)."""
    from tests.web.test_api import _wait

    with filled.client("admin") as admin:
        assert _wait(admin, admin.post("/api/v1/hosts/local/discover").json())["state"] == \
            "succeeded"
        slot = admin.get("/api/v1/hosts/local").json()["slots"][0]
        for name, target in (("slot-bare", slot["id"]), ("slot-full", slot["target"])):
            r = admin.post("/api/v1/definitions", json={
                "name": name, "cn": f"{name}.example", "targets": [target]})
            assert r.status_code == 201, r.text
        found = {s["id"]: s["definitions"]
                 for s in admin.get("/api/v1/hosts/local").json()["slots"]}
    assert found[slot["id"]] == ["slot-bare", "slot-full"]
    assert all("slot-bare" not in names for sid, names in found.items() if sid != slot["id"])
