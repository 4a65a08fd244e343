"""Real Chromium for the console's browser tests: Debian's ``chromium`` driven by
Playwright (no browser download), axe-core on every page, and a screenshot of every
page kept under ``reports/screenshots/`` (CI keeps ``reports/``)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from certmgr.testing import skip_or_fail

__all__ = ["SCREENSHOTS", "check", "chromium", "record_streamed", "streamed"]

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).parent / "data" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

# Run by the browser before the page's own scripts (through the DevTools protocol, so the
# page's CSP stays as it is): every line the job page adds to its progress list while
# the server-sent events arrive is kept in sessionStorage under the page's path, so a
# test still sees what streamed in after the page reloaded itself at the end.
_RECORD = """
document.addEventListener("DOMContentLoaded", function () {
  var list = document.getElementById("job-events");
  var state = document.getElementById("job-state");
  if (!list || !state || !state.hasAttribute("data-events")) { return; }
  var key = "streamed:" + location.pathname;
  new MutationObserver(function (changes) {
    var seen = JSON.parse(sessionStorage.getItem(key) || "[]");
    changes.forEach(function (c) {
      c.addedNodes.forEach(function (n) { if (n.nodeName === "LI") { seen.push(n.textContent); } });
    });
    sessionStorage.setItem(key, JSON.stringify(seen));
  }).observe(list, {childList: true});
});
"""


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (Debian's), or a skip (a failure under CI=true) without it."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        skip_or_fail("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright for Python is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def console_errors(page: Any) -> list[str]:
    """The page's console errors as they come (a list the caller asserts on), but for
    Chromium's ``net::ERR_NETWORK_CHANGED``: a load cut because the machine's interfaces
    changed (a lab adding or removing a veth), which says nothing about the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "ERR_NETWORK_CHANGED" not in m.text else None)
    return errors


def check(page: Any, name: str) -> Path:
    """axe-core on the page (no critical or serious violation), then a full-page
    screenshot ``reports/screenshots/NAME.png``; its path."""
    # Through the DevTools protocol, not a <script> tag: the page's CSP (no inline
    # script) stays enforced for everything the console itself runs.
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text() + "\n;undefined")
    result = page.evaluate("async () => JSON.stringify(await window.axe.run())")
    bad = [(v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
           for v in json.loads(result)["violations"] if v["impact"] in ("critical", "serious")]
    assert bad == [], f"{name}: {bad}"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def record_streamed(context: Any) -> None:
    """Keep what every job page of ``context`` receives over server-sent events."""
    context.add_init_script(_RECORD)


def streamed(page: Any) -> list[str]:
    """The progress lines the current job page showed as they streamed in."""
    data = page.evaluate("() => sessionStorage.getItem('streamed:' + location.pathname)")
    return list(json.loads(data)) if data else []
