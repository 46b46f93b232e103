"""The threshold editor on the patient view: limits with provenance; a clinician's change
with a reason; refusals shown in words with nothing stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.clinician_api.web.conftest import screenshot, serious_violations, sign_in

pytestmark = pytest.mark.browser


async def _history(page: Any, hub: Any) -> list[dict[str, Any]]:
    policy = await (await page.request.get(f"{hub.url}/api/patients/p3/alert-policy")).json()
    return list(policy["history"])


async def test_a_cardiologist_changes_a_threshold_with_a_reason(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "cardio")
    await page.goto(hub.url + "/patients/p3")
    await page.wait_for_function("document.getElementById('limits-card').dataset.ready === '1'")
    desat = page.locator('#limits tr[data-rule="desaturation"]')
    assert "< 90 %" in await desat.inner_text() and "Programme default" in await desat.inner_text()
    form = page.locator("#limit-form")
    await form.locator("input[name=value]").fill("88")
    await form.locator("button[type=submit]").click()
    await page.locator("#limit-error").filter(has_text="Say why").wait_for()
    await form.locator("input[name=reason]").fill("COPD, usual SpO2 88-91 %")
    await form.locator("input[name=value]").fill("20")
    await form.locator("button[type=submit]").click()
    await page.locator("#limit-error").filter(has_text="50-100 %").wait_for()
    assert await _history(page, hub) == []
    await form.locator("input[name=value]").fill("88")
    await form.locator("input[name=reason]").press("Enter")  # by keyboard
    await page.locator("#limit-status").filter(has_text="Saved").wait_for()
    await desat.filter(has_text="cardio").wait_for()
    assert [(h["value"], h["set_by"]) for h in await _history(page, hub)] == [(88, "cardio")]
    assert "< 88 %" in await desat.inner_text() and "COPD" in await desat.inner_text()
    trigger, clear = (
        desat.locator("td[data-parameter=trigger]"),
        desat.locator("td[data-parameter=clear]"),
    )
    assert "cardio" in await trigger.inner_text() and "COPD" in await trigger.inner_text()
    assert "cardio" not in await clear.inner_text()  # only the changed value names who changed it
    await form.locator("select[name=parameter]").select_option("clear")
    await form.locator("input[name=value]").fill("90")
    await form.locator("input[name=reason]").fill("clears one point above the new level")
    await form.locator("button[type=submit]").click()
    await clear.filter(has_text="one point above").wait_for()
    assert "COPD" in await trigger.inner_text() and "COPD" not in await clear.inner_text()
    history = [(h["parameter"], h["value"]) for h in await _history(page, hub)]
    assert history == [("clear", 90), ("trigger", 88)]  # newest first
    await screenshot(page, "patient-thresholds")
    assert await serious_violations(page) == []


async def _open_picker(page: Any) -> Any:
    await page.wait_for_function("document.getElementById('limits-card').dataset.ready === '1'")
    shown = page.locator("#limit-form input.datetime-picker")
    await shown.click()
    calendar = page.locator(".flatpickr-calendar.open")
    await calendar.wait_for()
    return calendar


async def test_the_expiry_picker_follows_the_pages_language_not_the_browsers(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "nurse-a")  # Czech page; the browser's locale is en-US
    await page.goto(hub.url + "/patients/p1")
    calendar = await _open_picker(page)
    weekdays = await calendar.locator(".flatpickr-weekday").all_inner_texts()
    assert [w.strip() for w in weekdays][:2] == ["Po", "Út"]  # Czech, Monday first
    months = calendar.locator("select.flatpickr-monthDropdown-months")
    month = await months.evaluate("s => s.options[s.selectedIndex].text")
    assert (
        month
        in (
            "Leden Únor Březen Duben Květen Červen Červenec Srpen Září Říjen Listopad Prosinec"
        ).split()
    )
    assert await calendar.locator(".flatpickr-am-pm").count() == 0  # 24-hour clock
    await screenshot(page, "patient-threshold-expiry-cs")
    assert await serious_violations(page) == []

    shown = page.locator("#limit-form input.datetime-picker")
    await shown.fill("24. 12. 2099 18:30")
    await shown.press("Enter")
    assert (
        await page.locator("#limit-form input[name=expires_at]").input_value() == "2099-12-24T18:30"
    )
    form = page.locator("#limit-form")
    await form.locator("input[name=value]").fill("88")
    await form.locator("input[name=reason]").fill("over Christmas")
    await form.locator("button[type=submit]").click()
    await page.locator("#limit-status").filter(has_text="30 s").wait_for()
    policy = await (await page.request.get(f"{hub.url}/api/patients/p1/alert-policy")).json()
    desat = next(r for r in policy["reading_rules"] if r["rule"] == "desaturation")
    expiry = datetime.fromisoformat(desat["parameters"]["trigger"]["provenance"]["expires_at"])
    assert (expiry.year, expiry.month, expiry.day) == (2099, 12, 24)  # 18:30 on the page's clock

    await page.select_option("#lang", "en")  # the header's switch: saved, the page served again
    await page.wait_for_function("document.documentElement.lang === 'en'")
    calendar = await _open_picker(page)
    weekdays = [w.strip() for w in await calendar.locator(".flatpickr-weekday").all_inner_texts()]
    assert weekdays[:2] == ["Sun", "Mon"]
    assert await calendar.locator(".flatpickr-am-pm").count() == 1  # 12-hour clock in English
