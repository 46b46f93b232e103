"""The patient timeline in Chromium: trends, home BP, findings, notes, the live ECG strip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets

from tests.clinician_api.patient_view.test_timeline_api import _iso, bp_pairs, send
from tests.clinician_api.stored import register_device, store_weight_gain
from tests.clinician_api.web.conftest import screenshot, serious_violations, sign_in

pytestmark = pytest.mark.browser


async def _history(hub: Any, tokens: dict[str, str]) -> None:
    now = datetime.now(UTC)
    readings = bp_pairs(now, 8)  # at 07:00 and 19:00 Prague: none in the last day after 18:00 UTC
    for kind, value in (("bp_systolic", 150.0), ("bp_diastolic", 90.0)):  # so one an hour ago
        readings.append({"kind": kind, "value": value, "unit": "mm[Hg]",
                         "measured_at": _iso(now - timedelta(hours=1))})  # fmt: skip
    for i in range(0, 24 * 60, 10):  # a day of SpO2 and HR every 10 min
        at = _iso(now - timedelta(minutes=i + 1))
        readings.append(
            {
                "kind": "spo2",
                "value": 95.0 + (i % 4),
                "unit": "%",
                "measured_at": at,
                "device_id": "ox",
            }
        )
        readings.append(
            {
                "kind": "heart_rate",
                "value": 70.0 + (i % 9),
                "unit": "/min",
                "measured_at": at,
                "device_id": "ox",
            }
        )
    await send(hub, tokens["bridge-p1"], "p1", readings)


async def _weight_finding_and_registered_oximeter(hub: Any) -> None:
    await store_weight_gain(hub.settings.database_url)
    oximeter = {"patient_id": "p1", "device_id": "ox", "kind": "pulse_oximeter"}
    await register_device(hub, **oximeter, model="Nonin 3230")


async def test_the_timeline_shows_trends_home_bp_and_passes_axe(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    await _history(hub, tokens)
    await _weight_finding_and_registered_oximeter(hub)
    page = await sign_in(browser, hub, "nurse-a")
    await page.goto(hub.url + "/patients/p1")
    await page.wait_for_function("document.body.dataset.chartsReady === 'day'", timeout=15_000)
    # the finding's explanation from its key and values, in the nurse's Czech
    assert "Hmotnost 82,4 kg, o 2,4 kg více než 80 kg dne" in await page.inner_text("#findings")
    oximeter = await page.inner_text('#devices [data-device="ox"]')  # registered, and sending
    assert "Pulzní oxymetr Nonin 3230" in oximeter and "poslední data" in oximeter
    kinds = await page.locator(".chart").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert {"heart_rate", "spo2", "bp"} <= set(kinds)
    assert await page.locator(".chart canvas").count() >= 3
    assert "150/90" in await page.inner_text("#home-bp")
    assert "Nad domácím cílem" in await page.inner_text("#home-bp")  # nurses: Czech
    await screenshot(page, "patient-timeline-day")
    assert await serious_violations(page) == []
    await page.locator("[data-range=week]").focus()
    await page.keyboard.press("Enter")  # reachable by keyboard
    await page.wait_for_function("document.body.dataset.chartsReady === 'week'", timeout=15_000)
    await screenshot(page, "patient-timeline-week")


async def test_the_live_ecg_strip_draws_incoming_chunks(hub: Any, seed: Any, browser: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "nurse-a")
    await page.goto(hub.url + "/patients/p1")
    await page.locator("#ecg[data-ready]").wait_for(timeout=15_000)  # the strip is listening
    import math

    start = datetime.now(UTC) - timedelta(seconds=4)
    chunks = [
        {"seq": 1000 + k, "patient_id": "p1", "device_id": "h10", "kind": "ecg", "lead": "I",
         "unit": "uV", "fs_hz": 130.0, "start": _iso(start + timedelta(seconds=k)),
         "samples": [int(1000 * math.exp(-(((i % 104) - 50) ** 2) / 8)) for i in range(130)]}
        for k in range(4)
    ]  # fmt: skip
    async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
        hello = {"type": "hello", "v": 1, "bridge_id": "bridge-p1", "token": tokens["bridge-p1"]}
        await ws.send(json.dumps(hello))
        await ws.recv()
        await ws.send(json.dumps({"type": "batch", "v": 1, "batch_id": 1, "chunks": chunks}))
        assert json.loads(await ws.recv())["type"] == "ack"
    await page.locator("#ecg-status.live").wait_for(timeout=10_000)
    assert int(await page.get_attribute("#ecg", "data-samples") or 0) >= 130
    await screenshot(page, "patient-ecg-live")


async def test_a_note_form_refuses_empty_text_then_saves(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "nurse-a")
    await page.goto(hub.url + "/patients/p1")
    await page.locator("#notes li").first.wait_for(timeout=10_000)
    await page.select_option("#note-kind", "contact")
    await page.fill("textarea[name=text]", "Called about the weight gain.")
    await page.click("#note-form button[type=submit]")
    await page.locator("#note-error").filter(has_text="channel and its outcome").wait_for()
    assert "Zatím žádné poznámky" in await page.inner_text("#notes")
    await page.select_option("select[name=channel]", "phone")
    await page.select_option("select[name=outcome]", "medication_change")
    await page.click("#note-form button[type=submit]")
    await page.locator("#notes li.contact").filter(has_text="Změna medikace").wait_for()
    await screenshot(page, "patient-notes")


async def test_a_clinician_cannot_open_a_patient_outside_their_care(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "cardio")
    response = await page.goto(hub.url + "/patients/p1")
    assert response.status == 404
    assert "not in your care" in await page.inner_text("main")
    await screenshot(page, "patient-not-found")


async def test_an_admin_sees_who_looked_at_the_patient(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    nurse = await sign_in(browser, hub, "nurse-a")
    await nurse.goto(hub.url + "/patients/p2")
    await nurse.wait_for_function("document.body.dataset.chartsReady === 'day'")
    admin = await sign_in(browser, hub, "admin")
    await admin.goto(hub.url + "/patients/p2")
    await admin.locator("#audit-card:not([hidden])").wait_for(timeout=10_000)
    assert "nurse-a" in await admin.inner_text("#audit")
    await screenshot(admin, "patient-audit-admin")
