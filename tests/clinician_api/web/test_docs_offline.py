"""/docs and /redoc render in Chromium with no network but the hub, after sign-in."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.browser import SCREENS

pytestmark = pytest.mark.browser


async def _offline_page(browser: Any, hub_url: str, blocked: list[str]) -> Any:
    """A page whose every request off the hub is aborted (and noted): the network is off."""
    context = await browser.new_context()
    hub_host = urlsplit(hub_url).netloc

    async def only_the_hub(route: Any) -> None:
        if urlsplit(route.request.url).netloc == hub_host:
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort("internetdisconnected")

    await context.route("**/*", only_the_hub)
    return await context.new_page()


async def _sign_in_at(page: Any, url: str) -> None:
    await page.goto(url)
    assert "/login?next=" in page.url  # production: the pages need sign-in
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    async with page.expect_navigation():
        await page.click("button[type=submit]")


async def test_swagger_ui_renders_offline_after_sign_in(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    blocked: list[str] = []
    page = await _offline_page(browser, hub.url, blocked)
    await _sign_in_at(page, hub.url + "/docs")
    await page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Telemed hub" in await page.inner_text(".swagger-ui .info .title")
    assert await page.locator(".opblock-summary-path").count() > 10
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / "docs-swagger-offline.png"), full_page=False)
    assert blocked == []


async def test_redoc_renders_offline_after_sign_in(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    blocked: list[str] = []
    page = await _offline_page(browser, hub.url, blocked)
    await _sign_in_at(page, hub.url + "/redoc")
    await page.wait_for_selector("h1", timeout=20_000)
    assert "Telemed hub" in await page.inner_text("h1")
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / "docs-redoc-offline.png"), full_page=False)
    assert blocked == []


async def test_the_schema_needs_sign_in_in_production(hub: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        schema = await client.get("/openapi.json")
        docs = await client.get("/docs")
    assert schema.status_code == 401
    assert (docs.status_code, docs.headers["location"]) == (303, "/login?next=/docs")
