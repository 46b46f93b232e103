"""Every screen is operable by keyboard: Tab reaches every visible control in turn, each with a
visible focus indicator; a form is filled and sent without the mouse."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clinician_api.web.conftest import sign_in

pytestmark = pytest.mark.browser

#: Where an element sits in the page (tag and position from <body>): stable when a live screen
#: re-renders a control in place, as the monitor does when an alert changes.
KEY = """(e) => { const path = [];
  for (; e && e !== document.body; e = e.parentElement) {
    path.unshift(e.tagName + ":" + [...e.parentElement.children].indexOf(e)); }
  return path.join("/"); }"""
#: The keys of every visible, enabled control.
CONTROLS = f"""() => {{ const key = {KEY};
  const sel = 'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])';
  return [...document.querySelectorAll(sel)].filter((e) => !e.disabled
    && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden").map(key); }}"""
#: The focused control's key and whether its focus can be seen (an outline or a shadow).
FOCUSED = f"""() => {{ const key = {KEY};
  const e = document.activeElement, s = getComputedStyle(e);
  if (e === document.body) return [null, false, ""];
  const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  return [key(e), ring, e.outerHTML.slice(0, 80)]; }}"""


async def tab_through(page: Any) -> None:
    """Tab from the top until every visible control has had the focus, each visibly."""
    controls = set(await page.evaluate(CONTROLS))
    assert controls
    seen: set[str] = set()
    for _ in range(len(controls) + 10):
        await page.keyboard.press("Tab")
        key, ring, what = await page.evaluate(FOCUSED)
        if key is None:
            continue  # the browser's chrome between rounds
        assert ring, f"no visible focus on {what}"
        seen.add(key)
        if controls <= seen:
            return
    raise AssertionError(f"{page.url}: not reachable by Tab: {sorted(controls - seen)}")


async def ready(page: Any, url: str, condition: str) -> None:
    await page.goto(url)
    await page.wait_for_function(condition, timeout=15_000)


async def test_every_screen_is_operable_by_keyboard(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    context = await browser.new_context()
    login = await context.new_page()
    await login.goto(hub.url + "/login")
    await tab_through(login)
    cardio = await sign_in(browser, hub, "cardio")
    await cardio.locator(".tile").first.wait_for()
    await tab_through(cardio)  # /monitor
    await ready(cardio, hub.url + "/patients/p3", "document.body.dataset.chartsReady === 'day'")
    await cardio.wait_for_function("document.getElementById('limits-card').dataset.ready === '1'")
    await tab_through(cardio)
    # a note by keyboard only: an empty one is refused on the screen, a written one is saved
    await cardio.focus("#note-form textarea")
    await cardio.keyboard.press("Tab")  # to Save
    await cardio.keyboard.press("Enter")
    await cardio.locator("#note-error").filter(has_text="Write the text first").wait_for()
    assert await cardio.locator("#notes li.hint").count() == 1  # still "No notes yet."
    await cardio.keyboard.type("Called, BP fine at home.")
    await cardio.keyboard.press("Tab")
    await cardio.keyboard.press("Enter")
    await cardio.locator("#notes li", has_text="Called, BP fine").wait_for()
    await ready(cardio, hub.url + "/account", "document.body.dataset.ready === '1'")
    await tab_through(cardio)
    admin = await sign_in(browser, hub, "admin")
    await ready(admin, hub.url + "/admin", "document.body.dataset.ready === '1'")
    await tab_through(admin)
    patient = await sign_in(browser, hub, "pat1", phone=True)
    await patient.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    await tab_through(patient)  # /me


async def tab_to(page: Any, selector: str, limit: int = 80) -> None:
    """Press Tab until the focus is on ``selector``."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} not reachable by Tab")


async def test_an_alert_is_accepted_and_paused_by_keyboard(
    hub: Any, seed: Any, browser: Any
) -> None:
    from tests.alerts.helpers import send_readings

    tokens = await seed(hub.settings.database_url)
    nurse = await sign_in(browser, hub, "nurse-a")
    await send_readings(hub.ws_url, "bridge-p1", tokens["bridge-p1"], "p1", "spo2", [88] * 70)
    alert = nurse.locator("#patient-p1 .alert.medium")
    await alert.wait_for(timeout=15_000)
    await tab_through(nurse)
    await tab_to(nurse, "#patient-p1 button.act-accept")
    await nurse.keyboard.press("Enter")
    await nurse.locator("#patient-p1 .alert.accepted").wait_for(timeout=5_000)
    await tab_to(nurse, "#patient-p1 button.act-pause")
    await nurse.keyboard.press("Enter")
    await tab_to(nurse, "#patient-p1 .alert-form input[name=reason]")
    await nurse.keyboard.type("calling the patient")
    await nurse.keyboard.press("Enter")
    await (
        nurse.locator("#alerts-centre .pauses li")
        .filter(has_text="calling the patient")
        .wait_for(timeout=5_000)
    )
