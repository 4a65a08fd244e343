"""In real Chromium: a user enrols a TOTP authenticator on their account page (the key
shown once, as text and as a QR code that the CSP lets through), signs out, signs in with
password and a code computed from the shown key, and is refused when the same code comes
again; an admin creates an API token (shown once); the audit log filtered and the
certificate list by state. axe-core on every page, screenshots under reports/."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from certmgr.app import users as uc
from tests.web.browser_support import check, chromium, console_errors
from tests.web.conftest import PASSWORD, Running

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _sign_in(page: Any, name: str, password: str, code: str = "") -> None:
    page.goto("/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    if code:
        page.get_by_label("One-time code (only if you enrolled an authenticator)").fill(code)
    page.get_by_role("button", name="Sign in").click()


def test_enrol_totp_sign_out_sign_in_with_a_code_once(web: Running, browser: Any) -> None:
    uc.add_user(web.console.repository(), "carol", "operator", password=PASSWORD)
    context = browser.new_context(ignore_https_errors=True, base_url=web.url)
    page = context.new_page()
    errors = console_errors(page)
    try:
        _sign_in(page, "carol", PASSWORD)
        page.wait_for_url(f"{web.url}/")
        page.get_by_role("link", name="Account").click()
        assert page.get_by_role("heading", name="Your account").is_visible()
        check(page, "20-account")
        page.get_by_role("button", name="Enrol a TOTP authenticator").click()
        secret = page.get_by_label("The key as text").input_value()
        qr = page.get_by_role("img", name="QR code of the new TOTP key for carol")
        # the SVG loaded under the page's CSP (img-src 'self' data:) and has a size
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 100",
                             qr.element_handle())
        check(page, "21-account-totp-new")
        totp = pyotp.TOTP(secret)
        step = totp.timecode(dt.datetime.now(dt.UTC))
        page.get_by_label("The 6-digit code your authenticator shows now").fill(
            totp.generate_otp(step))
        page.get_by_role("button", name="Confirm and enrol").click()
        assert page.get_by_role("status").filter(has_text="is enrolled").is_visible()
        assert secret not in page.content()
        check(page, "22-account-totp-enrolled")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")

        _sign_in(page, "carol", PASSWORD)  # the password alone is not enough any more
        assert page.get_by_role("alert").filter(has_text="not right").is_visible()
        code = totp.generate_otp(step + 1)  # the confirming code's step is used up
        _sign_in(page, "carol", PASSWORD, code)
        page.wait_for_url(f"{web.url}/")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        _sign_in(page, "carol", PASSWORD, code)  # the same code again
        assert page.url.endswith("/login")
        assert page.get_by_role("alert").filter(has_text="not right").is_visible()
        # the refused sign-ins answer 401 (logged by Chromium); nothing else went wrong
        assert [e for e in errors if "status of 401" not in e] == []
    finally:
        context.close()
    events = [e for e in web.console.repository().list_audit(limit=50, actor="carol")]
    assert any(e.action == "user.totp" and e.detail == {"enrolled": True} for e in events)
    failed = web.console.repository().list_audit(limit=50, action="login.failed",
                                                 obj="user:carol")
    assert [e.detail["failed"] for e in failed][:2] == ["totp_reused", "totp"]


def test_token_creation_audit_filters_and_certificate_states(web: Running,
                                                             browser: Any) -> None:
    uc.add_user(web.console.repository(), "dora", "admin", password=PASSWORD)
    context = browser.new_context(ignore_https_errors=True, base_url=web.url)
    page = context.new_page()
    try:
        _sign_in(page, "dora", PASSWORD)
        page.wait_for_url(f"{web.url}/")
        page.get_by_role("link", name="Users").click()
        check(page, "23-users-tokens")
        page.get_by_label("User", exact=True).select_option("viewer")
        page.get_by_label("Label").fill("browser made")
        page.get_by_label("Lifetime in days (1d to 3650d)").fill("10d")
        page.get_by_role("button", name="Create token").click()
        token = page.get_by_label("Token").input_value()
        assert token.startswith("cmt_")
        check(page, "24-token-created")
        assert uc.user_for_token(web.console.repository(), token) is not None

        page.get_by_role("link", name="Audit").click()
        page.get_by_label("User").fill("dora")
        page.get_by_label("Result").select_option("ok")
        page.get_by_label("Subject contains").fill("user:viewer")
        page.get_by_role("button", name="Filter").click()
        rows = page.locator("tbody tr")
        assert rows.count() >= 1
        assert all("token.create" in t and "dora" in t for t in rows.all_inner_texts())
        assert page.get_by_label("Subject contains").input_value() == "user:viewer"
        check(page, "25-audit-filtered")

        page.get_by_role("link", name="Certificates").click()
        page.get_by_label("State").select_option("valid")
        page.get_by_role("button", name="Search").click()
        assert "state=valid" in page.url
        statuses = page.locator("tbody tr td:last-child").all_inner_texts()
        assert statuses and set(statuses) == {"valid"}
        check(page, "26-certificates-valid")
    finally:
        context.close()
