"""The group monitor in a real browser (Playwright + Debian's Chromium): sign in, watch values change."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import websockets

pytestmark = pytest.mark.browser


async def signed_in_nurse(browser: Any, hub: Any) -> Any:
    """A page of nurse-a's group monitor, signed in and live."""
    page = await browser.new_page()
    await page.goto(hub.url + "/login")
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    await page.click("button[type=submit]")
    await page.locator("#status.live").wait_for(timeout=10_000)
    return page


async def push_spo2(hub: Any, token: str, patient: str, seq: int, value: float) -> None:
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        await ws.send(
            json.dumps({"type": "hello", "v": 1, "bridge_id": f"bridge-{patient}", "token": token})
        )
        await ws.recv()
        reading = {
            "seq": seq,
            "patient_id": patient,
            "device_id": "ox-1",
            "kind": "spo2",
            "value": value,
            "unit": "%",
            "measured_at": f"2026-11-27T10:00:{seq:02d}Z",
        }
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": seq, "readings": [reading]}))
        assert json.loads(await ws.recv())["type"] == "ack"


async def test_nurse_signs_in_and_sees_live_values_change(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    await push_spo2(hub, tokens["bridge-p1"], "p1", 1, 97)
    page = await browser.new_page()
    await page.goto(hub.url + "/monitor")
    assert page.url.split("?")[0].endswith("/login")  # not signed in yet (then back: ?next=)
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/monitor")
    spo2 = page.locator('#patient-p1 [data-kind="spo2"] .value')
    await spo2.filter(has_text="97").wait_for(timeout=10_000)
    await page.locator("#status.live").wait_for(timeout=10_000)
    assert await page.locator("#patient-p3").count() == 0  # another telemedpoint's patient
    assert await page.locator(".tile").count() == 2

    await push_spo2(hub, tokens["bridge-p1"], "p1", 2, 89)
    await spo2.filter(has_text="89").wait_for(timeout=10_000)
    await push_spo2(hub, tokens["bridge-p1"], "p1", 3, 93)
    await spo2.filter(has_text="93").wait_for(timeout=10_000)
    await page.screenshot(
        path=str(Path(os.environ.get("TELEMED_SCREENSHOTS", "/tmp")) / "monitor.png")
    )


async def test_wrong_password_stays_on_login_with_a_message(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await browser.new_page()
    await page.goto(hub.url + "/login")
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "wrong")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url.endswith("/login")
    assert "Wrong username or password" in await page.inner_text("[role=alert]")


async def test_a_finding_appears_on_the_patients_tile_and_stays_after_reload(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    page = await signed_in_nurse(browser, hub)
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        readings = [
            {"seq": i + 1, "patient_id": "p1", "device_id": "ox-1", "kind": "spo2",
             "value": 97 if i < 180 else 86, "unit": "%",
             "measured_at": f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}Z"}
            for i in range(270)
        ]  # fmt: skip
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"
    finding = page.locator('#patient-p1 .finding[data-kind="spo2_sustained_low"]')
    await finding.wait_for(timeout=15_000)
    # A nurse reads Czech: the rule's explanation is rendered from its key and values, live from
    # the socket and again from the snapshot after a reload.
    live = await finding.inner_text()
    assert "SpO2 pod 90 % po dobu" in live and "nejnižší 86 %" in live and "below" not in live
    await page.reload()
    await page.locator('#patient-p1 .finding[data-kind="spo2_sustained_low"]').wait_for(
        timeout=10_000
    )
    again = await page.locator('#patient-p1 .finding[data-kind="spo2_sustained_low"]').inner_text()
    assert "SpO2 pod 90 % po dobu" in again


async def test_a_tile_shows_the_latest_episode_of_each_kind_once(
    hub: Any, seed: Any, browser: Any
) -> None:
    """Two desaturations: one line for them (the second), beside the other kinds."""
    from datetime import datetime

    tokens = await seed(hub.settings.database_url)
    page = await signed_in_nurse(browser, hub)
    low = set(range(180, 270)) | set(range(420, 510))
    readings = [
        {"seq": i + 1, "patient_id": "p1", "device_id": "ox-1", "kind": "spo2",
         "value": 86 if i in low else 97, "unit": "%",
         "measured_at": f"2026-11-27T10:{i // 60:02d}:{i % 60:02d}Z"}
        for i in range(600)
    ]  # fmt: skip
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": readings}))
        assert json.loads(await ws.recv())["type"] == "ack"
    lines = page.locator('#patient-p1 .finding[data-kind="spo2_desaturation"]')
    await page.locator('#patient-p1 .finding[data-kind="spo2_sustained_low"]').wait_for(
        timeout=15_000
    )
    # Until the second episode (from 10:07) has replaced the first (from 10:03).
    await page.wait_for_function(
        """() => {
          const lines = document.querySelectorAll(
            '#patient-p1 .finding[data-kind="spo2_desaturation"]');
          return lines.length === 1
            && Date.parse(lines[0].dataset.start) >= Date.parse("2026-11-27T10:06:00Z");
        }""",
        timeout=15_000,
    )
    starts = [await lines.nth(i).get_attribute("data-start") for i in range(await lines.count())]
    assert len(starts) == 1 and datetime.fromisoformat(str(starts[0])).minute >= 6, starts
    await page.reload()
    await page.locator('#patient-p1 .finding[data-kind="spo2_sustained_low"]').wait_for(
        timeout=10_000
    )
    assert await lines.count() == 1


async def test_a_first_value_never_shows_beside_no_data_yet(
    hub: Any, seed: Any, browser: Any
) -> None:
    """The tile's age line changes with its first value, not at the next repaint."""
    tokens = await seed(hub.settings.database_url)
    page = await signed_in_nurse(browser, hub)
    age = page.locator("#patient-p2 .age")
    no_data = await age.inner_text()
    await push_spo2(hub, tokens["bridge-p2"], "p2", 1, 95)
    seen = await page.wait_for_function(
        """() => {
          const v = document.querySelector('#patient-p2 [data-kind="spo2"] .value');
          return v && v.textContent === "95" ? document.querySelector("#patient-p2 .age").textContent : null;
        }""",
        polling="raf",
        timeout=10_000,
    )
    assert await seen.json_value() != no_data
