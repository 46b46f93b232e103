"""Sign-in lands each role on its page; the dispatch pages ask for sign-in first."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.alerts.dispatch.test_endpoints import world


@pytest.mark.parametrize(
    ("name", "next_path", "landing"),
    [
        ("fr0", "", "/respond"),
        ("disp", "", "/dispatch"),
        ("fr0", "/dispatch", "/dispatch"),
        ("disp", "//evil.example/x", "/dispatch"),
        ("disp", "/\\evil.example/x", "/dispatch"),
    ],
)
async def test_sign_in_goes_to_the_page_asked_for_or_the_roles_own(
    hub: Any, name: str, next_path: str, landing: str
) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        form = {"username": name, "password": f"pw-{name}", "next": next_path}
        r = await client.post("/login", data=form)
    assert r.status_code == 303 and r.headers["location"] == landing


@pytest.mark.parametrize("page", ["/respond", "/dispatch"])
async def test_the_dispatch_pages_send_a_stranger_to_sign_in_and_back(hub: Any, page: str) -> None:
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        r = await client.get(page)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={page}"
        login = await client.get(r.headers["location"])
    assert f'name="next" value="{page}"' in login.text
