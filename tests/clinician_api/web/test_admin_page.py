"""The admin screen (/admin) and everyone's account screen (/account) in Debian's Chromium:
forms that work, refusals shown in words with nothing changed, screenshots and axe-core."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest

from tests.clinician_api.admin.test_admin_api import STRONG
from tests.clinician_api.web.conftest import screenshot, serious_violations, sign_in
from tests.conftest import token_for

pytestmark = pytest.mark.browser


async def _accounts(hub: Any) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
    async with httpx.AsyncClient(base_url=hub.url) as c:
        return {u["username"]: u for u in (await c.get("/api/admin/users", headers=headers)).json()}


async def test_an_admin_manages_accounts_cohorts_and_enrols_a_patient(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "admin")
    await screenshot(page, "monitor-admin")
    await page.click("header a[href='/admin']")  # the monitor's header leads admins here
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    assert await page.locator("#users tr").count() == 5
    await screenshot(page, "admin")
    assert await serious_violations(page) == []

    form = page.locator("#user-form")
    await form.locator("input[name=username]").fill("nurse-b")
    await form.locator("input[name=password]").fill("short")
    await form.locator("button[type=submit]").click()
    await page.locator("#users-error").filter(has_text="at least 10").wait_for()
    assert "nurse-b" not in await _accounts(hub)
    await form.locator("input[name=password]").fill(STRONG)
    await form.locator("select[name=telemedpoint_id]").select_option("tmp-b")
    await form.locator("button[type=submit]").click()
    await page.locator('#users tr[data-user="nurse-b"]').wait_for()
    assert (await _accounts(hub))["nurse-b"]["telemedpoint_id"] == "tmp-b"

    await page.locator('#users tr[data-user="cardio"] button', has_text="Disable").click()
    await page.locator('#users tr[data-user="cardio"] button', has_text="Enable").wait_for()
    assert (await _accounts(hub))["cardio"]["active"] is False
    await page.locator('#users tr[data-user="cardio"] button', has_text="Enable").click()
    await page.locator('#users tr[data-user="cardio"] button', has_text="Disable").wait_for()

    await page.select_option("#team-user", "cardio")
    await page.locator("#cohort li", has_text="p3").wait_for()
    await page.fill("#team-form input[name=patient_id]", "p9")
    await page.press("#team-form input[name=patient_id]", "Enter")
    await page.locator("#team-error").filter(has_text="no patient 'p9'").wait_for()
    await page.fill("#team-form input[name=patient_id]", "p1")
    await page.press("#team-form input[name=patient_id]", "Enter")
    await page.locator("#cohort li", has_text="p1").wait_for()

    enrol = page.locator("#enrol-form")
    for name, value in (("id", "p7"), ("given_name", "Jana"), ("family_name", "Nováková"),
                        ("gateway_id", "gw-p7"), ("phone", "601")):  # fmt: skip
        await enrol.locator(f"input[name={name}]").fill(value)
    await enrol.locator("input[name=care_team][value=cardio]").check()
    await enrol.locator("button[type=submit]").click()
    await page.locator("#enrol-error").filter(has_text="phone").wait_for()
    await enrol.locator("input[name=phone]").fill("+420601234567")
    await enrol.locator("button[type=submit]").click()
    token = await page.locator("#gateway-token").inner_text(timeout=10_000)
    assert len(token) >= 40
    assert "Jana Nováková" in await page.inner_text("#enrol-result")
    await screenshot(page, "admin-enrolled")
    assert await serious_violations(page) == []


async def test_a_user_changes_their_password_and_signs_out_everywhere(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    other = await sign_in(browser, hub, "cardio")  # a second session, e.g. another PC
    page = await sign_in(browser, hub, "cardio")
    await page.click("header a[href='/account']")
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    assert await page.locator("#sessions li").count() == 2
    await page.fill("input[name=current_password]", "wrong-password")
    await page.fill("input[name=new_password]", STRONG)
    await page.fill("input[name=repeat]", STRONG)
    await page.click("#password-form button[type=submit]")
    await page.locator("#password-error").filter(has_text="current password is wrong").wait_for()
    assert (await other.request.get(hub.url + "/api/patients")).ok  # nothing changed
    await page.fill("input[name=current_password]", "pw-cardio")
    await page.fill("input[name=new_password]", STRONG)
    await page.fill("input[name=repeat]", STRONG)
    await page.click("#password-form button[type=submit]")
    await page.locator("#password-status").filter(has_text="1").wait_for()
    assert (await other.request.get(hub.url + "/api/patients")).status == 401
    await page.wait_for_function("document.querySelectorAll('#sessions li').length === 1")
    await screenshot(page, "account")
    assert await serious_violations(page) == []
    assert await serious_violations(page) == []
    await page.click("#everywhere-form button[type=submit]")
    await page.wait_for_url("**/login")
    assert (await page.request.get(hub.url + "/api/patients")).status == 401


async def test_a_user_recognises_each_session_and_ends_one_other(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    other = await sign_in(browser, hub, "nurse-a")  # e.g. the PC at the telemedpoint
    page = await sign_in(browser, hub, "nurse-a")
    await page.goto(hub.url + "/account")
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    items = page.locator("#sessions li")
    assert await items.count() == 2
    for text in await items.all_inner_texts():  # a nurse reads Czech by default
        assert "HeadlessChrome v systému Linux" in text and "z adresy 127.0.0.1" in text
    assert await page.locator("#sessions li .this").count() == 1
    await screenshot(page, "account-sessions")
    assert await serious_violations(page) == []
    end = page.locator("#sessions li button.end-session")
    assert await end.count() == 1  # only the other session has the button
    await end.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_function("document.querySelectorAll('#sessions li').length === 1")
    assert (await other.request.get(hub.url + "/api/patients")).status == 401
    assert (await page.request.get(hub.url + "/api/patients")).ok


async def test_the_admin_screen_is_for_admins_only(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "nurse-a")
    assert await page.locator("header a[href='/admin']").count() == 0
    await page.goto(hub.url + "/admin")
    assert page.url.endswith("/monitor")


def _searches(hub: Any) -> list[tuple[str, str | None, str | None]]:
    """The admin's audit "search" entries: (entity id, patient id, detail)."""
    path = hub.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT entity_id, patient_id, detail FROM audit_log"
            " WHERE actor = 'admin' AND action = 'search' ORDER BY seq"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


async def test_opening_admin_reads_no_patient_and_each_suggestion_search_is_one_entry(
    hub: Any, seed: Any, browser: Any
) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "admin")
    await page.goto(hub.url + "/admin")
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    assert _searches(hub) == []  # three patients in the registry, none read by opening the page
    await page.select_option("#team-user", "cardio")
    await page.locator("#team-form input[name=patient_id]").press_sequentially("p2")
    await page.wait_for_function(
        "[...document.querySelectorAll('#patient-ids option')].map(o => o.value).join() === 'p2'"
    )
    searches = _searches(hub)
    assert len(searches) == 1  # typing "p2" quickly is one search, not one per key or patient
    entity_id, patient_id, detail = searches[0]
    assert (entity_id, patient_id) == ("suggestions", None)
    assert detail is not None and json.loads(detail) == {"patients": ["p2"], "q": "p2"}


async def test_patient_suggestions_are_for_admins_and_refuse_an_empty_query(
    hub: Any, seed: Any
) -> None:
    await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as c:
        admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
        nurse = {"Authorization": f"Bearer {await token_for(hub, 'nurse-a')}"}
        found = await c.get("/api/admin/patient-search", params={"q": "P"}, headers=admin)
        assert [p["id"] for p in found.json()] == ["p1", "p2", "p3"]
        assert (
            await c.get("/api/admin/patient-search", params={"q": "%"}, headers=admin)
        ).json() == []
        assert (
            await c.get("/api/admin/patient-search", params={"q": ""}, headers=admin)
        ).status_code == 422
        assert (
            await c.get("/api/admin/patient-search", params={"q": "p"}, headers=nurse)
        ).status_code == 403


async def test_an_admin_enrols_devices_and_retires_one(hub: Any, seed: Any, browser: Any) -> None:
    await seed(hub.settings.database_url)
    page = await sign_in(browser, hub, "admin")
    await page.goto(hub.url + "/admin")
    await page.wait_for_function("document.body.dataset.ready === '1'", timeout=15_000)
    enrol = page.locator("#enrol-form")
    for name, value in (("id", "p7"), ("given_name", "Jana"), ("family_name", "Nováková"),
                        ("gateway_id", "gw-p7")):  # fmt: skip
        await enrol.locator(f"input[name={name}]").fill(value)
    await enrol.locator("select[name=device_kind_1]").select_option("bp_monitor")
    await enrol.locator("input[name=device_model_1]").fill("Omron M7")
    await enrol.locator("input[name=device_id_1]").fill("omron-7361")
    await enrol.locator("input[name=device_ble_1]").fill("A4:C1:38")  # too short
    await enrol.locator("button[type=submit]").click()
    await page.locator("#enrol-error").filter(has_text="six hex pairs").wait_for()
    async with httpx.AsyncClient(base_url=hub.url) as c:
        admin = {"Authorization": f"Bearer {await token_for(hub, 'admin')}"}
        assert (await c.get("/api/patients/p7", headers=admin)).status_code == 404  # nothing stored
    await enrol.locator("input[name=device_ble_1]").fill("a4:c1:38:2f:9b:10")
    await enrol.locator("button[type=submit]").click()
    await page.locator("#enrol-result").filter(has_text="omron-7361").wait_for()

    shown = page.locator("#devices-show")
    await shown.locator("input[name=patient_id]").fill("p7")
    await shown.locator("button[type=submit]").click()
    row = page.locator('#device-rows tr[data-device="omron-7361"]')
    await row.wait_for()
    assert "A4:C1:38:2F:9B:10" in await row.inner_text() and "gw-p7" in await row.inner_text()
    add = page.locator("#device-form")
    await add.locator("select[name=device_kind_0]").select_option("scale")
    await add.locator("input[name=device_model_0]").fill("A&D UC-352")
    await add.locator("input[name=device_id_0]").fill("omron-7361")  # assigned already
    await add.locator("button[type=submit]").click()
    await (
        page.locator("#devices-error")
        .filter(has_text="assigned to patient 'p7' already")
        .wait_for()
    )
    await add.locator("input[name=device_id_0]").fill("scale-22")
    await add.locator("button[type=submit]").click()
    await page.locator('#device-rows tr[data-device="scale-22"]').wait_for()
    await screenshot(page, "admin-devices")
    assert await serious_violations(page) == []
    await row.locator("button", has_text="Retire").click()
    await page.locator('#device-rows tr[data-device="omron-7361"]').wait_for(state="detached")
    assert await page.locator("#device-rows tr").count() == 1
