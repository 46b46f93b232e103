"""Sessions carry the browser, system and address they were opened from; the user sees them on
/account and can end one other session alone."""

from __future__ import annotations

from typing import Any

import httpx

from clinician_api.auth.devices import device_label, device_of

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def test_a_user_agent_reads_as_browser_on_system() -> None:
    assert device_label(FIREFOX) == "Firefox on Windows"
    assert device_label(IPHONE) == "Mobile Safari on iOS (iPhone)"
    assert device_label("python-httpx/0.28.1") == "python-httpx/0.28.1"
    assert device_of(None) == ("", "", "") and device_label("") == ""


async def _token(c: httpx.AsyncClient, username: str, agent: str) -> dict[str, str]:
    reply = await c.post(
        "/auth/token",
        data={"username": username, "password": f"pw-{username}"},
        headers={"User-Agent": agent},
    )
    return {"Authorization": f"Bearer {reply.json()['access_token']}"}


async def test_sessions_show_their_device_and_one_other_can_be_ended(hub: Any, seed: Any) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as c:
        pc = await _token(c, "cardio", FIREFOX)
        phone = await _token(c, "cardio", IPHONE)
        nurse = await _token(c, "nurse-a", FIREFOX)
        listed = (await c.get("/api/me/sessions", headers=pc)).json()
        by_device = {s["device"]: s for s in listed}
        assert set(by_device) == {"Firefox on Windows", "Mobile Safari on iOS (iPhone)"}
        assert by_device["Firefox on Windows"]["current"] is True
        assert {s["client_ip"] for s in listed} == {"127.0.0.1"}
        assert by_device["Firefox on Windows"]["user_agent"] == FIREFOX
        mine, theirs = (
            by_device["Firefox on Windows"]["id"],
            by_device["Mobile Safari on iOS (iPhone)"]["id"],
        )

        this_one = await c.delete(f"/api/me/sessions/{mine}", headers=pc)
        assert this_one.status_code == 400 and "Sign out" in this_one.json()["detail"]
        someone_elses = await c.delete(f"/api/me/sessions/{theirs}", headers=nurse)
        assert someone_elses.status_code == 404
        assert (await c.delete("/api/me/sessions/nope", headers=pc)).status_code == 404
        assert (await c.get("/api/patients", headers=phone)).status_code == 200  # nothing ended

        assert (await c.delete(f"/api/me/sessions/{theirs}", headers=pc)).status_code == 204
        assert (await c.get("/api/patients", headers=phone)).status_code == 401
        assert (await c.get("/api/patients", headers=pc)).status_code == 200
        assert [s["id"] for s in (await c.get("/api/me/sessions", headers=pc)).json()] == [mine]
