"""The dashboard over real HTTPS: problems first, counts, the expiry timeline as inline
SVG with its text table (no style attribute, no script: the CSP allows neither), and
``GET /api/v1/dashboard`` with the same numbers."""

from __future__ import annotations

import re

from certmgr.issuers import make_definition
from tests.repository.conftest import make_cert
from tests.web.conftest import Running
from tests.web.test_authorization import _session


def test_the_dashboard_shows_problems_counts_and_the_timeline(web: Running) -> None:
    repo = web.console.repository()
    for name, days in (("dash-soon", 5), ("dash-later", 200)):
        repo.save_definition(make_definition(name, f"{name}.example.org"))
        pem, _key = make_cert(f"{name}.example.org", days=days,
                              sans=(f"{name}.example.org",))
        repo.add_certificate(name, pem)
    repo.save_definition(make_definition("dash-never", "dash-never.example.org"))
    with web.client("viewer") as c:
        r = c.get("/api/v1/dashboard")
    assert r.status_code == 200, r.text
    board = r.json()
    codes = {g["code"]: g for g in board["problems"]}
    assert "definition:dash-soon" in [p["object"] for p in codes["EXPIRING_SOON"]["first"]]
    assert "definition:dash-never" in [p["object"] for p in codes["NOT_ISSUED"]["first"]]
    assert board["counts"]["renew"] >= 1 and board["counts"]["none"] >= 1
    timeline = board["timeline"]
    assert len(timeline) == 54 and timeline[0]["label"] == "expired"
    assert sum(b["count"] for b in timeline) == board["counts"]["certificates"]
    assert timeline[1 + 200 // 7]["count"] >= 1
    cookies, _csrf = _session(web, "viewer")
    with web.client(cookies=cookies) as c:
        page = c.get("/")
    assert page.status_code == 200
    html = page.text
    assert html.index("Problems (") < html.index("Expiry timeline")
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg and "<desc" in svg
    assert svg.count("<rect") == 54
    assert "style=" not in html and "<script>" not in html
    assert re.search(r"<td>week from [0-9-]+</td><td>1</td>", html)
    assert "dash-soon" in html


def test_viewers_see_the_dashboard_anonymous_callers_do_not(web: Running) -> None:
    with web.client() as c:
        assert c.get("/api/v1/dashboard").status_code == 401
    with web.client("op") as c:
        assert c.get("/api/v1/dashboard").status_code == 200
