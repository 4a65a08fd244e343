"""The console end to end in real Chromium against a lab host running apache2.

An admin signs in, changes the one-time password, discovers the lab host, defines a
certificate for its apache2 slot, issues it, sees the deployment plan (the dry run),
confirms it and watches the slot's progress stream in, deploys a second version the
same way, rolls the slot back to the first from the history, reads the audit log,
adds a restricted operator and signs out. The operator, restricted to other hosts, is
refused (403) when it deploys to the lab host, and the admin finds the refusal in the
audit log. After each step the test asks
apache2 itself which certificate it serves, not only the page.

Every page is checked with axe-core and kept as ``reports/screenshots/lab-*.png``.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmgr.app import users as uc
from certmgr.app.console import console_certificate
from certmgr.app.trust import builtin_roots
from certmgr.hosts.servicetable import load_service_table
from certmgr.issuers import init_builtin_ca
from certmgr.lab import register_hosts
from certmgr.lab.probe import served_sha256
from certmgr.models import Endpoint
from certmgr.testing.lab import RunningLab, running_lab
from certmgr.web.console import Console
from certmgr.web.security import Security
from tests.web.browser_support import check, chromium, console_errors, record_streamed, streamed
from tests.web.conftest import serving

pytestmark = [pytest.mark.browser, pytest.mark.lab]

HOST = "lab:lab1"
JOB_DONE = "#job-state:not([data-events])"  # the job page as rendered once the job is done
SECRET = "the admin's own secret"


@dataclass
class LabConsole:
    url: str
    console: Console
    lab: RunningLab
    cafile: Path

    @property
    def endpoint(self) -> Endpoint:
        """apache2's TLS endpoint on the lab host, from the host's own service table."""
        table = load_service_table(self.lab.hosts[0])
        assert table is not None
        (endpoint,) = table.get("apache2").endpoints
        return endpoint

    def served(self) -> str:
        """SHA-256 of the leaf apache2 serves now (a real handshake with the lab host)."""
        return served_sha256(self.endpoint)

    def issued(self, definition: str, version: int) -> str:
        record = self.console.repository().get_certificate(definition, version)
        leaf = x509.load_pem_x509_certificate(record.cert_pem.encode())
        return hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()

    def verify_served_chain(self, name: str) -> None:
        """apache2's chain verifies to the built-in root for ``name`` (ssl's own checks)."""
        context = ssl.create_default_context(cafile=str(self.cafile))
        address = self.endpoint.address
        with socket.create_connection((address, self.endpoint.port), timeout=10) as sock, \
                context.wrap_socket(sock, server_hostname=name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


@contextmanager
def _lab() -> Iterator[RunningLab]:
    # not under pytest's 0700 basetemp: the lab's programs traverse the lab directory
    with tempfile.TemporaryDirectory(prefix="certmgr-web-lab-") as tmp:
        yield from running_lab(Path(tmp) / "lab", hosts=1, programs=["apache2"])


@pytest.fixture(scope="module")
def lab_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabConsole]:
    home = tmp_path_factory.mktemp("web-lab") / "home"
    with _lab() as lab:
        console = Console(home)  # no --root: hosts are the registered lab hosts
        repo = console.repository()
        init_builtin_ca(repo)
        register_hosts(repo, lab.state)
        cafile = home.parent / "root.pem"
        cafile.write_bytes(b"".join(r.public_bytes(serialization.Encoding.PEM)
                                    for r in builtin_roots(repo)))
        cert = console_certificate(console, fqdn="certmgr.test")
        try:
            with serving(console, cert, Security()) as (url, _app, _context):
                yield LabConsole(url, console, lab, cafile)
        finally:
            console.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _new_page(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(ignore_https_errors=True, base_url=url)
    record_streamed(context)
    page = context.new_page()
    errors = console_errors(page)
    page.on("dialog", lambda d: d.accept())  # the console's "are you sure?" confirmations
    return context, page, errors


def _sign_in(page: Any, user: str, password: str, new_password: str) -> None:
    page.goto("/")
    assert page.url.endswith("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/password")
    page.get_by_label("Current password").fill(password)
    page.get_by_label("New password (12 characters or more)").fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/")


def _nav(page: Any, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name,
                                                            exact=True).click()
    page.wait_for_load_state()


def _job_done(page: Any, state: str = "succeeded") -> str:
    """Wait for the job page to show the finished job; its main text."""
    page.wait_for_url("**/jobs/*")
    page.locator(JOB_DONE).filter(has_text=state).wait_for(timeout=120_000)
    return str(page.locator("main").inner_text())


def _deploy(page: Any, lc: LabConsole, target: str, shot: str) -> list[str]:
    """Plan the deployment of lab-www, check the plan, confirm; the lines streamed live."""
    served_before = lc.served()
    _nav(page, "Deploy")
    page.get_by_role("button", name="Plan deployment of lab-www").click()
    plan = _job_done(page)
    assert "/etc/apache2/ssl" in plan and "planned" in plan, plan
    assert f"Plan for {target}" in plan
    assert lc.served() == served_before  # the dry run changed nothing
    check(page, f"lab-{shot}-plan")
    page.get_by_role("button", name=f"Confirm: deploy lab-www to {target}").click()
    done = _job_done(page)
    assert f"{target}: verified" in done, done
    lines = streamed(page)
    # the progress came in over server-sent events while the job ran
    assert lines[0] == "deploying lab-www to 1 target(s)", lines
    assert f"{target}: verified" in lines and lines[-1] == "job succeeded", lines
    # each step of the slot as it happened, in order, before its outcome
    steps = [line for line in lines if line.startswith(f"{target}: ")]
    assert steps == [f"{target}: {s}" for s in ("preflight", "applied", "reloaded",
                                                "verified")], lines
    check(page, f"lab-{shot}-progress")
    assert lc.served() != served_before
    return lines


def test_define_issue_deploy_roll_back_on_a_lab_host_and_refuse_a_restricted_operator(
        lab_console: LabConsole, browser: Any) -> None:
    lc = lab_console
    one_time = uc.add_user(lc.console.repository(), "root-admin", "admin").one_time_password
    assert one_time
    original = lc.served()
    assert original == lc.lab.expected("lab1", "apache2")  # the lab's own self-signed one
    context, page, errors = _new_page(browser, lc.url)
    try:
        page.goto("/")
        check(page, "lab-01-login")
        _sign_in(page, "root-admin", one_time, SECRET)
        assert page.get_by_role("heading", name="Dashboard").is_visible()
        check(page, "lab-02-dashboard")

        # discover the lab host: its apache2 slot appears
        _nav(page, "Hosts")
        page.get_by_role("button", name=f"Discover on {HOST}").click()
        found = _job_done(page)
        slots = next(h["slots"] for h in lc.console.hosts(0, 500).items if h["name"] == HOST)
        [slot] = [s for s in slots if s["id"].startswith("apache2:")]
        target = f"{HOST}/{slot['id']}"
        assert f"{target}: discovered" in found
        check(page, "lab-03-discover-job")
        _nav(page, "Hosts")
        assert slot["id"] in page.locator("main").inner_text()
        check(page, "lab-04-hosts")

        # define a certificate for that slot, issue it
        _nav(page, "Definitions")
        page.get_by_label("Name", exact=True).fill("lab-www")
        page.get_by_label("Common name").fill("www.example.com")
        page.get_by_label("Targets, [HOST/]SLOT-ID (separated by spaces)").fill(target)
        page.get_by_role("button", name="Define").click()
        assert page.locator("#def-lab-www").is_visible()
        check(page, "lab-05-definitions")
        page.get_by_role("button", name="Issue lab-www").click()
        assert "lab-www: issued" in _job_done(page)
        check(page, "lab-06-issue-job")

        # deploy it: plan, confirm, progress, verified; apache2 serves version 1
        _deploy(page, lc, target, "07")
        first = lc.issued("lab-www", 1)
        assert lc.served() == first
        lc.verify_served_chain("www.example.com")

        # a second version deployed the same way
        _nav(page, "Definitions")
        page.get_by_role("button", name="Issue lab-www").click()
        assert "lab-www: issued" in _job_done(page)
        _deploy(page, lc, target, "08")
        assert lc.served() == lc.issued("lab-www", 2)

        # roll back to the first deployment from the history
        _nav(page, "Deploy")
        history = list(lc.console.deployments().items)
        first_deployment = min(d.id for d in history if d.state.value == "verified")
        check(page, "lab-09-deploy-history")
        page.get_by_role("button", name=f"Roll back {target} to deployment "
                                        f"{first_deployment}").click()
        done = _job_done(page)
        assert page.get_by_role("heading", name=f"Job: rollback slot:{target}").is_visible()
        assert f"{target}: verified" in done
        lines = streamed(page)
        assert lines[0].startswith(f"rolling {target} back to lab-www version 1"), lines
        assert f"{target}: verified" in lines, lines
        check(page, "lab-10-rollback-job")
        assert lc.served() == first  # apache2 serves version 1 again
        lc.verify_served_chain("www.example.com")
        _nav(page, "Deploy")
        newest = page.locator("table tbody tr").first.inner_text()
        assert target in newest and "lab-www v1" in newest and "verified" in newest, newest

        # the audit log tells it all
        _nav(page, "Audit")
        audit = page.locator("main").inner_text()
        for action in ("login.ok", "user.save", "job.discover", "definition.save",
                       "job.issue", "job.deploy", "job.rollback"):
            assert action in audit, action
        assert f"slot:{target}" in audit
        check(page, "lab-11-audit")

        # an operator restricted to other hosts
        _nav(page, "Users")
        page.get_by_label("Name", exact=True).fill("op-other")
        page.get_by_label("Role").select_option("operator")
        page.get_by_label("Host patterns of an operator (separated by spaces; "
                          "empty: every host)").fill("lab:other*")
        page.get_by_role("button", name="Add user").click()
        op_password = page.locator("p[role=status] code").inner_text()
        check(page, "lab-12-users")

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        page.goto("/deploy")
        assert page.url.endswith("/login")
        assert errors == []
    finally:
        context.close()

    deployments = lc.console.deployments().total
    context, page, errors = _new_page(browser, lc.url)
    try:
        _sign_in(page, "op-other", op_password, "the operator's own secret")
        _nav(page, "Deploy")
        section = page.get_by_role("region", name="lab-www")
        box = section.get_by_role("checkbox", name=f"{target} (not one of your hosts)")
        assert box.is_disabled()
        assert "not one of your hosts" in page.locator("table tbody tr").first.inner_text()
        check(page, "lab-13-deploy-restricted")
        # sent anyway, as a hand-made request would: refused by the server
        box.evaluate("b => { b.disabled = false; b.checked = true; }")
        with page.expect_response("**/deploy/plan") as answer:
            section.get_by_role("button", name="Plan deployment of lab-www").click()
        assert answer.value.status == 403
        assert page.get_by_role("heading", name="Error 403").is_visible()
        assert f"op-other may not act on host {HOST}" in page.locator("main").inner_text()
        check(page, "lab-14-refused")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
    finally:
        context.close()
    denied = lc.console.audit(20, "access.denied")
    assert any(e.actor == "op-other" and HOST in e.detail["reason"] for e in denied), denied

    # the admin sees the refusal in the audit log
    context, page, errors = _new_page(browser, lc.url)
    try:
        page.goto("/login")
        page.get_by_label("User name").fill("root-admin")
        page.get_by_label("Password").fill(SECRET)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{lc.url}/")
        _nav(page, "Audit")
        page.get_by_label("Action").fill("access.denied")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(lambda url: "/audit?" in url and "action=access.denied" in url)
        row = page.locator("table tbody tr").filter(has_text="op-other").first
        assert f"op-other may not act on host {HOST}" in row.inner_text()
        check(page, "lab-15-audit-refusal")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/login")
        assert errors == []
    finally:
        context.close()
    assert lc.console.deployments().total == deployments  # nothing was deployed
    assert lc.served() == first
