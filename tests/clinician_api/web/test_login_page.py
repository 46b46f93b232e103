"""The sign-in page in Chromium with a Czech browser: Czech text, the language switch, a Czech
error after a wrong password, and no serious accessibility violations."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clinician_api.web.conftest import screenshot, serious_violations

pytestmark = pytest.mark.browser


async def test_a_czech_browser_gets_a_czech_sign_in_page_and_can_switch(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    context = await browser.new_context(locale="cs-CZ", bypass_csp=True)
    page = await context.new_page()
    await page.goto(hub.url + "/login?next=/monitor")
    assert await page.inner_text("h1") == "Přihlášení do Telemedu"
    assert await page.get_attribute("html", "lang") == "cs"
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "wrong-password")
    await page.click("button[type=submit]")
    assert "Nesprávné uživatelské jméno nebo heslo." in await page.inner_text("[role=alert]")
    await screenshot(page, "login-cs-wrong-password")
    assert await serious_violations(page) == []
    await page.click("a[hreflang=en]")
    assert await page.inner_text("h1") == "Telemed sign-in"
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/monitor")
    await context.close()
