"""The monitoring and settings screens in real Chromium, checked with axe-core and kept
as screenshots: the endpoint list with its filter, "scan now" with its job page, one
endpoint's history, the issuers and the notification channels (admin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from certmgr.testing.tls_endpoint import TlsEndpoint
from tests.web.browser_support import check as _check
from tests.web.browser_support import chromium, console_errors
from tests.web.conftest import Running
from tests.web.test_monitoring import served  # noqa: F401 - the fixture, shared

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _signed_in(web: Running, browser: Any, user: str) -> Any:
    context = browser.new_context(ignore_https_errors=True, base_url=web.url)
    s = web.security.new_session(user)
    context.add_cookies([{"name": "__Host-certmgr-session", "value": s.sid,
                          "url": web.url + "/", "secure": True, "httpOnly": True,
                          "sameSite": "Strict"}])
    return context


def test_monitoring_pages(web: Running, browser: Any,
                          served: TlsEndpoint) -> None:  # noqa: F811
    context = _signed_in(web, browser, "fullop")
    page = context.new_page()
    errors = console_errors(page)
    try:
        page.goto("/monitoring")
        page.get_by_role("link", name="Monitoring").wait_for()
        assert page.get_by_text("site.example.test").count() >= 1
        _check(page, "monitoring-01-endpoints")
        page.get_by_role("button", name="Scan every endpoint now").click()
        page.wait_for_url("**/jobs/*")
        page.get_by_text("job failed").wait_for(timeout=30_000)  # the closed port
        page.reload()
        assert page.get_by_role("cell", name="unreachable", exact=True).count() == 1
        _check(page, "monitoring-02-scan-job")
        page.goto("/monitoring")
        page.get_by_label("Show").select_option("unreachable")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url("**problem=unreachable*")
        assert page.get_by_text("gone.example.test").count() >= 1
        assert page.get_by_text("site.example.test").count() == 0
        page.goto("/monitoring")
        page.get_by_role("link", name="127.0.0.1", exact=False).first.click()
        page.wait_for_url("**/monitoring/*")
        assert page.get_by_text("History").count() >= 1
        _check(page, "monitoring-03-endpoint-history")
        assert urlsplit(page.url).path.count("/") == 2
        assert errors == []
    finally:
        context.close()


def test_settings_pages(web: Running, browser: Any) -> None:
    context = _signed_in(web, browser, "admin")
    page = context.new_page()
    try:
        page.goto("/settings/issuers")
        assert page.get_by_role("heading", name="builtin (builtin)").count() == 1
        _check(page, "settings-01-issuers")
        page.get_by_label("Name", exact=True).fill("builtin")
        page.get_by_label("Directory URL", exact=True).fill("https://ca.example/directory")
        page.get_by_role("button", name="Add issuer").click()
        page.get_by_role("alert").wait_for()
        assert "reserved" in page.get_by_role("alert").inner_text()
        _check(page, "settings-02-issuers-refused")
        page.goto("/settings/notifications")
        assert page.get_by_text("monitor.toml").count() >= 1
        _check(page, "settings-03-notifications")
    finally:
        context.close()
