"""The screens work under the Content-Security-Policy in a real browser: no violation reported
while signing in and watching the live monitor (Playwright + Debian's Chromium)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser import SCREENS
from tests.clinician_api.test_monitor_browser import push_spo2

pytestmark = pytest.mark.browser


async def test_sign_in_and_live_monitor_raise_no_csp_violation(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    page = await browser.new_page()
    await page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    console = []
    page.on("console", lambda message: console.append(message.text))
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.goto(hub.url + "/login")
    await page.screenshot(path=str(SCREENS / "csp-login.png"))
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    await page.click("button[type=submit]")
    await page.locator("#status.live").wait_for(timeout=10_000)
    await push_spo2(hub, tokens["bridge-p1"], "p1", 1, 91)
    await (
        page.locator('#patient-p1 [data-kind="spo2"] .value')
        .filter(has_text="91")
        .wait_for(timeout=10_000)
    )
    await page.screenshot(path=str(SCREENS / "csp-monitor.png"))
    assert await page.evaluate("window.__csp") == []
    assert not [text for text in console if "Content Security Policy" in text]
