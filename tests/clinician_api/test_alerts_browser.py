"""Open alerts on the monitor tiles in a real browser: see, accept, pause, resolve."""

from __future__ import annotations

from typing import Any

import pytest

from tests.alerts.helpers import send_readings
from tests.browser import SCREENS
from tests.clinician_api.test_monitor_browser import signed_in_nurse

pytestmark = pytest.mark.browser


async def shot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


async def signed_in(browser: Any, hub: Any, user: str) -> Any:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(hub.url + "/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", f"pw-{user}")
    await page.click("button[type=submit]")
    await page.locator("#status.live").wait_for(timeout=10_000)
    return page


async def test_a_nurse_accepts_pauses_and_resolves_an_alert_on_the_tile(
    hub: Any, seed: Any, browser: Any
) -> None:
    tokens = await seed(hub.settings.database_url)
    nurse = await signed_in_nurse(browser, hub)
    admin = await signed_in(browser, hub, "admin")
    await send_readings(hub.ws_url, "bridge-p1", tokens["bridge-p1"], "p1", "spo2", [88] * 70)

    alert = nurse.locator("#patient-p1 .alert.medium")
    await alert.filter(has_text="SpO₂ pod mezí").wait_for(timeout=15_000)  # nurses: Czech
    why = await alert.locator(".alert-why").inner_text()  # the rule's explanation, in Czech too
    assert "SpO2 < 90 % po dobu 60 s" in why and "for 60 s" not in why
    await admin.locator("#patient-p1 .alert.medium").wait_for(timeout=5_000)
    await shot(nurse, "alerts-1-new-on-tile")

    await alert.locator("button.act-accept").click()
    await (
        admin.locator("#patient-p1 .alert.accepted")
        .filter(has_text="accepted by nurse-a")
        .wait_for(timeout=1_000)
    )
    await shot(admin, "alerts-2-accepted-seen-by-supervisor")

    await alert.locator("button.act-pause").click()
    await alert.locator("input[name=reason]").fill("calling the patient")
    await alert.locator(".alert-form button[type=submit]").click()
    await (
        nurse.locator("#alerts-centre .pauses li")
        .filter(has_text="calling the patient")
        .wait_for(timeout=5_000)
    )
    await shot(nurse, "alerts-3-paused-listed")

    await alert.locator("button.act-resolve").click()
    await alert.locator("select[name=outcome]").select_option("phoned_patient")
    await alert.locator(".alert-form button[type=submit]").click()
    await nurse.locator("#patient-p1 .alert").wait_for(state="detached", timeout=5_000)
    await admin.locator("#patient-p1 .alert").wait_for(state="detached", timeout=5_000)
    await shot(nurse, "alerts-4-resolved")
