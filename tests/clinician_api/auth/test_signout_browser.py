"""Sign-out in a real browser: the screen's form carries the CSRF token and ends the session."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.browser import SCREENS, chromium
from tests.conftest import token_for

pytestmark = pytest.mark.browser


async def test_signing_out_of_the_monitor_ends_the_session(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
    async with httpx.AsyncClient(base_url=hub.url, headers=admin) as client:
        test_patient = {"id": "sim-1", "display_name": "Simulated patient 1", "is_test": True,
                        "telemedpoint_id": "tmp-a"}  # fmt: skip
        assert (await client.post("/api/patients", json=test_patient)).status_code == 201
    page = await browser.new_page()
    await page.goto(hub.url + "/login")
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    await page.wait_for_selector("#patient-sim-1 .test-badge")
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / "monitor-test-data-and-sign-out.png"))
    cookie = next(c for c in await page.context.cookies() if c["name"] == "telemed_token")
    async with page.expect_navigation():
        await page.click("form.signout button")
    assert page.url.endswith("/login")
    await page.screenshot(path=str(SCREENS / "signed-out.png"))
    async with httpx.AsyncClient(base_url=hub.url, cookies={"telemed_token": cookie["value"]}) as c:
        assert (await c.get("/api/me")).status_code == 401
    await page.goto(hub.url + "/monitor")
    assert "/login" in page.url


async def test_the_sign_in_page_explains_throttling(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    page = await browser.new_page()
    await page.goto(hub.url + "/login")
    for i in range(6):
        await page.fill("input[name=username]", "nurse-a")
        await page.fill("input[name=password]", f"guess-{i}")
        async with page.expect_navigation():
            await page.click("button[type=submit]")
    message = await page.inner_text("[role=alert]")
    assert "Too many failed sign-ins" in message
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / "login-throttled.png"))


async def test_production_over_plain_http_says_why_sign_in_cannot_work(hub: Any, seed: Any) -> None:
    """The hub under a real host name (mapped to 127.0.0.1 by Chromium), no TLS proxy."""
    await seed(hub.settings.database_url)
    port = hub.url.rsplit(":", 1)[1]
    rules = ["--host-resolver-rules=MAP hub.example.org 127.0.0.1"]
    async with chromium(rules) as browser:
        page = await browser.new_page()
        await page.goto(f"http://hub.example.org:{port}/login")
        await page.fill("input[name=username]", "nurse-a")
        await page.fill("input[name=password]", "pw-nurse-a")
        async with page.expect_navigation():
            await page.click("button[type=submit]")
        message = await page.inner_text("[role=alert]")
        SCREENS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENS / "login-needs-https.png"))
    assert "signs in only over HTTPS" in message
    assert page.url.endswith("/login")
