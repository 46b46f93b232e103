"""The alert API and the monitor socket over a real hub: delivery, actions, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.alerts.helpers import next_alert, send_readings
from tests.conftest import token_for


async def client(hub: Any, user: str) -> httpx.AsyncClient:
    token = await token_for(hub, user)
    return httpx.AsyncClient(base_url=hub.url, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def desat(hub: Any, seed: Any) -> AsyncIterator[dict[str, Any]]:
    """p1 desaturates for 70 s; a nurse's screen is open. Yields the alert as pushed."""
    tokens = await seed(hub.settings.database_url)
    token = await token_for(hub, "nurse-a")
    async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={token}") as monitor:
        await monitor.recv()  # hello
        await send_readings(hub.ws_url, "bridge-p1", tokens["bridge-p1"], "p1", "spo2", [88] * 70)
        alert = await next_alert(monitor, rule="desaturation", state="active")
        await next_alert(monitor, id=alert["id"], state="delivered")
        yield alert


async def test_a_desaturation_reaches_the_nurse_screen_with_its_explanation(
    desat: dict[str, Any],
) -> None:
    assert (desat["patient_id"], desat["priority"], desat["category"]) == (
        "p1",
        "medium",
        "clinical",
    )
    assert desat["target_roles"] == ["nurse"]
    explanation = desat["explanation"]
    # One path opens it: the reading rule, with the threshold and where it came from.
    assert explanation["threshold"]["trigger"] == 90.0
    assert explanation["threshold"]["provenance"]["source"] == "programme default"
    assert "for 60 s" in explanation["why"]


async def test_the_alert_list_filters_and_the_detail_has_the_history(
    hub: Any, desat: dict[str, Any]
) -> None:
    async with await client(hub, "nurse-a") as c:
        mine = (await c.get("/api/alerts", params={"patient": "p1", "priority": "medium"})).json()
        other = (await c.get("/api/alerts", params={"kind": "cardiac_arrest"})).json()
        detail = (await c.get(f"/api/alerts/{desat['id']}")).json()
    assert isinstance(mine, list), mine
    assert [a["id"] for a in mine] == [desat["id"]]
    assert other == []
    assert [e["action"] for e in detail["history"]] == ["raised", "delivered"]
    assert detail["history"][1]["actor"] == "nurse-a"


async def test_accepted_on_one_screen_shows_accepted_on_another_within_a_second(
    hub: Any, desat: dict[str, Any]
) -> None:
    token = await token_for(hub, "admin")
    async with websockets.connect(f"{hub.ws_url}/ws/monitor?access_token={token}") as other:
        await other.recv()  # hello
        async with await client(hub, "nurse-a") as c:
            started = asyncio.get_running_loop().time()
            response = await c.post(f"/api/alerts/{desat['id']}/accept")
            seen = await next_alert(other, timeout_s=1.0, id=desat["id"], state="accepted")
            elapsed = asyncio.get_running_loop().time() - started
    assert response.status_code == 200
    assert seen["accepted_by"] == "nurse-a" and elapsed < 1.0


async def test_a_late_accept_after_resolve_is_refused(hub: Any, desat: dict[str, Any]) -> None:
    async with await client(hub, "nurse-a") as c:
        resolved = await c.post(
            f"/api/alerts/{desat['id']}/resolve", json={"outcome": "phoned_patient", "note": "ok"}
        )
        late = await c.post(f"/api/alerts/{desat['id']}/accept")
        after = (await c.get(f"/api/alerts/{desat['id']}")).json()
    assert resolved.status_code == 200 and resolved.json()["outcome"] == "phoned_patient"
    assert late.status_code == 409
    assert (after["state"], after["accepted_by"]) == ("resolved", None)


async def test_reject_passes_the_alert_to_the_next_tier(hub: Any, desat: dict[str, Any]) -> None:
    async with await client(hub, "nurse-a") as c:
        response = await c.post(f"/api/alerts/{desat['id']}/reject", json={"reason": "busy"})
    assert response.status_code == 200
    assert (response.json()["tier"], response.json()["target_roles"]) == (
        1,
        ["nurse", "cardiologist"],
    )


async def test_a_pause_is_listed_until_it_ends(hub: Any, desat: dict[str, Any]) -> None:
    async with await client(hub, "nurse-a") as c:
        paused = await c.post(
            f"/api/alerts/{desat['id']}/pause",
            json={"reason": "calling the patient", "duration_s": 600},
        )
        pauses = (await c.get("/api/alerts/pauses")).json()
    assert paused.status_code == 200
    assert [(p["id"], p["pause_reason"], p["paused_by"]) for p in pauses] == [
        (desat["id"], "calling the patient", "nurse-a")
    ]


@pytest.mark.parametrize(
    ("user", "path", "body", "status"),
    [
        ("nurse-a", "/api/alerts/999999/accept", None, 404),
        ("cardio", "/api/alerts/{id}/accept", None, 404),  # may not see p1
        ("pat1", "/api/alerts/{id}/accept", None, 404),
        ("nurse-a", "/api/alerts/{id}/pause", {"reason": " ", "duration_s": 60}, 422),
        ("nurse-a", "/api/alerts/{id}/pause", {"duration_s": 60}, 422),
        ("nurse-a", "/api/alerts/{id}/pause", {"reason": "x", "duration_s": 99999}, 422),
        ("nurse-a", "/api/alerts/{id}/resolve", {"outcome": "magic"}, 422),
        ("nurse-a", "/api/alerts/{id}/resolve", {"outcome": "no_action", "extra": 1}, 422),
    ],
)
async def test_bad_input_gets_a_clear_error_and_changes_nothing(
    hub: Any, desat: dict[str, Any], user: str, path: str, body: Any, status: int
) -> None:
    async with await client(hub, "nurse-a") as nurse:
        before = (await nurse.get(f"/api/alerts/{desat['id']}")).json()
        async with await client(hub, user) as c:
            response = await c.post(path.format(id=desat["id"]), json=body)
        after = (await nurse.get(f"/api/alerts/{desat['id']}")).json()
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/")
    assert response.json().get("detail")
    assert people_made(after) == people_made(before)


def people_made(alert: dict[str, Any]) -> tuple[Any, ...]:
    """What an action changes (evidence from the signal worker may still arrive meanwhile)."""
    fields = ("state", "tier", "accepted_by", "paused_until", "pause_reason", "outcome")
    actions = [(e["actor"], e["action"]) for e in alert["history"] if e["actor"] != "system"]
    return (*(alert[f] for f in fields), actions)
