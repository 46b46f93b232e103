"""The patient portal (/me) on a phone-sized Chromium: own data only, today's schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.clinician_api.patient_view.test_history import history
from tests.clinician_api.patient_view.test_timeline_api import _iso, bp_pairs, send
from tests.clinician_api.stored import register_device
from tests.clinician_api.web.conftest import screenshot, serious_violations, sign_in

pytestmark = pytest.mark.browser


async def test_a_patient_lands_on_their_portal_with_large_type(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    now = datetime.now(UTC)
    readings = bp_pairs(now, 8) + [
        {"kind": "body_weight", "value": 81.4, "unit": "kg", "device_id": "scale",
         "measured_at": _iso(now - timedelta(hours=2))},
    ]  # fmt: skip
    await send(hub, tokens["bridge-p1"], "p1", readings)
    await history(hub.settings.database_url)  # p1: one alert episode, one reminder
    cuff = {"patient_id": "p1", "device_id": "cuff-1", "kind": "bp_monitor"}  # sent the BP
    await register_device(hub, **cuff, model="Omron M7")
    page = await sign_in(browser, hub, "pat1", phone=True)
    assert page.url.endswith("/me")
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    assert await page.locator("#slots li").count() == 2
    weight = await page.inner_text('#latest [data-kind="body_weight"]')
    assert "81,4" in weight and "kg" in weight  # Czech by default: a decimal comma
    assert "140/90" in await page.inner_text('#latest [data-kind="bp_systolic"]')  # the evening one
    size = await page.eval_on_selector(
        ".latest .value", "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert size >= 30
    assert "Změřte si tlak." in await page.inner_text("#reminders")
    assert "SMS" in await page.inner_text("#reminders")
    episodes = await page.inner_text("#episodes")
    assert "Hypertenzní krize" in episodes and "nurse-a se tím zabývá" in episodes
    # why the team was alerted, from the rule's key and values, in Czech with a decimal comma
    assert "TK v pásmu krize potvrzený 2 měřeními, nejvyšší 192/121,5 mmHg." in episodes
    devices = await page.inner_text("#devices")  # the registry's cuff first, then the scale seen
    assert devices.index("Tlakoměr Omron M7") < devices.index("scale") and "zatím" not in devices
    wide = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert wide, "the portal scrolls sideways on a phone"
    await screenshot(page, "portal-phone")
    assert await serious_violations(page) == []


async def test_a_patient_cannot_reach_another_patient_by_url_or_api(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "pat1", phone=True)
    await page.goto(hub.url + "/patients/p2")
    assert page.url.endswith("/me")
    await page.goto(hub.url + "/monitor")
    assert page.url.endswith("/me")
    for path in ("summary", "readings", "trends?kind=spo2", "today", "findings"):
        response = await page.request.get(f"{hub.url}/api/patients/p2/{path}")
        assert response.status == 404, path
    assert (await page.request.get(f"{hub.url}/api/patients")).ok
    listed = await (await page.request.get(f"{hub.url}/api/patients")).json()
    assert [p["id"] for p in listed] == ["p1"]


async def test_responders_see_no_patient_list(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "resp")
    await page.goto(hub.url + "/monitor")
    await page.locator("#patients p").filter(has_text="No patients").wait_for(timeout=10_000)
    assert await page.locator(".tile").count() == 0
    listed = await (await page.request.get(f"{hub.url}/api/patients")).json()
    assert listed == []
