"""The console in real Chromium (Debian's ``chromium``, driven by Playwright without a
browser download): sign in, change the first password, discover the local host (a
configuration tree), define and issue a certificate while its job's progress streams
in, see the chain, plan its deployment (the dry run with its confirmation), see the
audit entries, sign out.
Every page is checked with axe-core (no critical or serious violation) and kept as a
screenshot under ``reports/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from certmgr.app import users as uc
from tests.web.browser_support import check, chromium, console_errors
from tests.web.conftest import Running

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _check(page: Any, name: str) -> None:
    check(page, name)


def test_sign_in_define_issue_audit_sign_out(web: Running, browser: Any) -> None:
    one_time = uc.add_user(web.console.repository(), "alice", "admin").one_time_password
    assert one_time
    context = browser.new_context(ignore_https_errors=True, base_url=web.url)
    page = context.new_page()
    errors = console_errors(page)
    try:
        page.goto("/")
        assert page.url.endswith("/login")
        _check(page, "01-login")
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill(one_time)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/password")
        _check(page, "02-first-password")
        page.get_by_label("Current password").fill(one_time)
        page.get_by_label("New password (12 characters or more)").fill("alice's own secret")
        page.get_by_label("New password again").fill("alice's own secret")
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url(f"{web.url}/")
        assert page.get_by_role("heading", name="Dashboard").is_visible()
        _check(page, "03-dashboard")

        page.get_by_role("link", name="Hosts").click()
        page.get_by_role("button", name="Discover on local").click()
        page.wait_for_url("**/jobs/*")
        page.locator("#job-state").filter(has_text="succeeded").wait_for(timeout=30_000)
        assert "local/nginx:_default_" in page.locator("main").inner_text()
        page.get_by_role("link", name="Hosts").click()
        assert "nginx:_default_" in page.locator("main").inner_text()
        _check(page, "04-hosts")

        page.get_by_role("link", name="Definitions").click()
        page.get_by_label("Name", exact=True).fill("browser-one")
        page.get_by_label("Common name").fill("browser.example")
        page.get_by_label("More names (separated by spaces)").fill("www.browser.example")
        page.get_by_label("Targets, [HOST/]SLOT-ID (separated by spaces)").fill(
            "local/nginx:_default_")
        page.get_by_role("button", name="Define").click()
        row = page.locator("#def-browser-one")
        assert row.is_visible()
        _check(page, "05-definitions")
        row.get_by_role("button", name="Issue browser-one").click()
        page.wait_for_url("**/jobs/*")
        state = page.locator("#job-state")
        state.filter(has_text="succeeded").wait_for(timeout=30_000)
        assert "browser-one: issued" in page.locator("#job-events").inner_text()
        _check(page, "06-issue-job")

        page.get_by_role("link", name="Certificates").click()
        page.get_by_role("link", name="browser-one").click()
        assert page.get_by_role("heading", name="Certificate browser-one").is_visible()
        assert "www.browser.example" in page.locator("main").inner_text()
        _check(page, "07-certificate-chain")

        page.get_by_role("link", name="Deploy").click()
        _check(page, "08-deploy")
        page.get_by_role("button", name="Plan deployment of browser-one").click()
        page.wait_for_url("**/jobs/*")
        confirm = page.get_by_role("button",
                                   name="Confirm: deploy browser-one to local/nginx:_default_")
        confirm.wait_for(timeout=30_000)  # the page reloads with the plan when it is done
        plan = page.locator("main").inner_text()
        assert "planned" in plan and "/etc/ssl" in plan, plan
        _check(page, "09-deploy-plan")
        page.get_by_role("link", name="Audit").click()
        audit = page.locator("main").inner_text()
        for action in ("login.ok", "definition.save", "job.issue", "key.store", "job.discover",
                       "job.deploy"):
            assert action in audit, action
        assert "definition:browser-one" in audit
        _check(page, "10-audit")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        page.goto("/definitions")
        assert page.url.endswith("/login")
        assert errors == []
    finally:
        context.close()
