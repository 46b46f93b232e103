"""The nurse's visit in a real browser (Playwright + Debian's Chromium) against a real hub:
online, offline from the start, with invalid inputs and device failures, across a restart."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.telemedpoint_kiosk.conftest import RunningKiosk, World, hub_get, screen

pytestmark = pytest.mark.browser
CRISIS = {"bp_systolic": 192, "bp_diastolic": 116, "pulse_rate": 96}


async def sign_in(page: Any, kiosk: RunningKiosk, shot: str | None = None) -> None:
    await page.goto(kiosk.url + "/")
    if shot:
        await screen(page, shot)
    await page.fill("input[name=username]", "nurse-a")
    await page.fill("input[name=password]", "pw-nurse-a")
    async with page.expect_navigation():
        await page.click("button[type=submit]")


async def register(page: Any, birth_number: str, birth_date: str, shot: str | None = None) -> str:
    await page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/")[2] + "/patients/new")
    await page.fill("input[name=family_name]", "Nováková")
    await page.fill("input[name=given_name]", "Jana")
    await page.fill("input[name=birth_date]", birth_date)
    await page.fill("input[name=national_id]", birth_number)
    await page.fill("input[name=insurer]", "111 VZP")
    await page.fill("input[name=treating_doctor]", "MUDr. Petr Dvořák")
    await page.check("input[name=id_checked]")
    await page.check("input[name=consent]")
    if shot:
        await screen(page, shot)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    return str(page.url.rsplit("/", 1)[1])


async def start_visit(page: Any, symptoms: tuple[str, ...] = (), shot: str | None = None) -> None:
    for s in symptoms:
        await page.check(f"input[name=symptoms][value={s}]")
    if shot:
        await screen(page, shot)
    async with page.expect_navigation():
        await page.click("#start-visit")


async def measure(page: Any, step: str) -> None:
    assert await page.get_attribute("#step", "data-step") == step
    async with page.expect_navigation():
        await page.click("#measure")


async def record_ecg(page: Any, shot: str | None = None) -> None:
    assert await page.get_attribute("#step", "data-step") == "ecg"
    async with page.expect_navigation():
        await page.click("#measure")
    if shot and await page.locator("#ecg-progress").count():
        await screen(page, shot)
    await page.locator("#step[data-step=weight]").wait_for(timeout=20_000)


async def finish(page: Any, shot: str | None = None) -> None:
    async with page.expect_navigation():
        await page.click("#to-summary")
    if shot:
        await screen(page, shot)
    async with page.expect_navigation():
        await page.click("#finish")
    await page.locator("#finished").wait_for()


async def readings_at_hub(world: World, patient_id: str) -> list[dict[str, Any]]:
    return list(await hub_get(world.hub, f"/api/patients/{patient_id}/readings", limit=1000))


async def test_a_full_visit_reaches_the_hub_as_observations_of_the_patient(
    world: World, browser: Any
) -> None:
    kiosk = await world.start()
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    started = time.monotonic()
    await sign_in(page, kiosk, shot="login")
    await screen(page, "home")
    patient_id = await register(page, "555312/0012", "1955-03-12", shot="register")
    await start_visit(page, shot="patient")
    await screen(page, "visit-bp")
    await measure(page, "bp")
    await measure(page, "bp")
    await screen(page, "visit-spo2")
    await measure(page, "spo2")
    await record_ecg(page, shot="visit-ecg-recording")
    await screen(page, "visit-weight")
    await measure(page, "weight")
    await screen(page, "visit-done")
    await finish(page, shot="summary")
    took_s = time.monotonic() - started
    await screen(page, "summary-finished")
    await kiosk.drained()
    print(f"KIOSK_VISIT_S {took_s:.1f}")
    kinds = sorted(r["kind"] for r in await readings_at_hub(world, patient_id))
    assert kinds == sorted(
        ["bp_systolic", "bp_diastolic", "bp_mean", "pulse_rate"] * 2
        + ["spo2", "pulse_rate", "body_weight"]
    )
    bundle = await hub_get(world.hub, "/fhir/Observation", patient=patient_id, _count=100)
    resources = [e["resource"] for e in bundle["entry"]]
    assert {r["subject"]["reference"] for r in resources} == {f"Patient/{patient_id}"}
    weight = next(r for r in resources if r["code"]["coding"][0]["code"] == "29463-7")
    assert "kiosk-scale-1" in weight["device"]["reference"]
    assert any("kiosk-a" in x["valueReference"]["reference"] for x in weight["extension"])
    assert any("ecg" in str(r.get("code")).lower() or "sampledData" in str(r) for r in resources)


async def test_a_visit_with_the_uplink_cut_completes_alerts_locally_and_arrives_once(
    world: World, browser: Any
) -> None:
    kiosk = await world.start()
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, kiosk)  # online once: the kiosk caches the nurse's credential
    world.link.cut()
    await page.click("button.small")  # sign out
    await sign_in(page, kiosk)  # offline now
    await page.locator("#link.offline").wait_for(timeout=10_000)
    patient_id = await register(page, "555312/0012", "1955-03-12")
    await start_visit(page, symptoms=("chest_pain",))
    kiosk.sim.script("bp_cuff", CRISIS, CRISIS)
    await measure(page, "bp")
    assert await page.get_attribute("#step", "data-status") == "confirm"
    await screen(page, "offline-confirm-repeat")
    await measure(page, "bp")
    alert = page.locator(".alert.critical[data-rule=bp_crisis_symptoms]")
    assert "VOLEJTE 155" in await alert.inner_text()
    await screen(page, "offline-critical-alert")
    async with page.expect_navigation():
        await alert.locator("button").click()
    assert "Zavoláno 155" in await page.locator(".alert.critical .ack").inner_text()
    await measure(page, "spo2")
    await record_ecg(page)
    await measure(page, "weight")
    await finish(page)
    async with page.expect_navigation():
        await page.click("#consult")
    await page.fill("textarea[name=reason]", "Hypertenzní krize s bolestí na hrudi, volána 155")
    await screen(page, "consult")
    async with page.expect_navigation():
        await page.click("#send-consult")
    await screen(page, "offline-summary")
    unsent = int(await page.inner_text("#unsent"))
    assert unsent == kiosk.kiosk.outbox.depth() > 0
    assert await readings_at_hub_or_none(world, patient_id) is None
    world.link.restore()
    await kiosk.drained(60)
    readings = await readings_at_hub(world, patient_id)
    assert len(readings) == 11 and len({(r["bridge_id"], r["seq"]) for r in readings}) == 11
    patients = await hub_get(world.hub, "/api/patients", user="admin")
    assert [p["id"] for p in patients].count(patient_id) == 1
    tasks = await hub_get(world.hub, "/api/teleconsults")
    assert [t["patient_id"] for t in tasks] == [patient_id]
    await page.reload()
    await page.locator("#link.online").wait_for(timeout=10_000)
    assert await page.inner_text("#unsent") == "0"
    await screen(page, "back-online")


async def readings_at_hub_or_none(world: World, patient_id: str) -> Any:
    import httpx

    try:
        return await readings_at_hub(world, patient_id)
    except httpx.HTTPStatusError:
        return None  # the hub does not know the patient yet


async def test_invalid_inputs_and_a_disconnecting_device_lose_nothing(
    world: World, browser: Any
) -> None:
    kiosk = await world.start()
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, kiosk)
    await register(page, "555312/0013", "1955-03-12")
    assert "dělitelnosti 11" in await page.inner_text("#error")
    assert await page.input_value("input[name=family_name]") == "Nováková"
    await screen(page, "register-checksum-error")
    await register(page, "555332/0012", "1955-03-12")
    assert "nemožné datum" in await page.inner_text("#error")
    await register(page, "551312/0012", "1955-03-12")
    assert "není platný" in await page.inner_text("#error")
    assert kiosk.kiosk.outbox.depth() == 0 and kiosk.kiosk.store.find_patients("Nov") == []
    await register(page, "555312/0012", "1955-03-12")
    await start_visit(page)
    await measure(page, "bp")
    kiosk.sim.fail("bp_cuff")
    await measure(page, "bp")
    assert "odpojil" in await page.inner_text("#device-problem")
    assert await page.locator("#step table.results tr").count() == 1
    await screen(page, "device-disconnected")
    await measure(page, "bp")
    await page.click("details.manual summary")
    await page.fill("input[name=spo2]", "140")
    async with page.expect_navigation():
        await page.click("#save-manual")
    assert "140 % je nemožná" in await page.inner_text("#error")
    assert await page.input_value("input[name=spo2]") == "140"  # shown again to correct
    await screen(page, "manual-spo2-impossible")
    kiosk.sim.script("pulse_oximeter", {"spo2": 140, "pulse_rate": 80})
    await measure(page, "spo2")
    assert "nemožnou hodnotu" in await page.inner_text("#step")
    await page.click("details.manual summary")
    assert await page.input_value("input[name=spo2]") == ""
    await page.fill("input[name=spo2]", "97")
    async with page.expect_navigation():
        await page.click("#save-manual")
    await record_ecg(page)
    await page.click("details.manual summary")
    await page.fill("input[name=body_weight]", "0")
    async with page.expect_navigation():
        await page.click("#save-manual")
    assert "Hmotnost" in await page.inner_text("#error")
    await screen(page, "manual-weight-impossible")
    steps = kiosk.kiosk.visits.steps(kiosk.kiosk.store.open_visits()[0])
    usable = {s.step.name: len([m for m in s.measurements if m.usable]) for s in steps}
    assert usable == {"bp": 2, "spo2": 1, "ecg": 1, "weight": 0}
    await kiosk.drained()
    flags = [
        r["flags"]
        for r in await readings_at_hub(
            world,
            steps[0].measurements[0].visit_id and kiosk.kiosk.store.open_visits()[0].patient_id,
        )
        if r["kind"] == "spo2"
    ]
    assert sorted(map(sorted, flags)) == [["invalid"], ["manual"]]


async def test_the_kiosk_resumes_a_visit_after_its_process_restarts(
    world: World, browser: Any
) -> None:
    kiosk = await world.start()
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await sign_in(page, kiosk)
    patient_id = await register(page, "555312/0012", "1955-03-12")
    await start_visit(page)
    await measure(page, "bp")
    await measure(page, "bp")
    visit_url = page.url
    await kiosk.stop()
    again = await world.start()
    await page.goto(again.url + "/")
    resume = page.locator("a.button", has_text="Pokračovat")
    await screen(page, "restart-home")
    async with page.expect_navigation():
        await resume.click()
    assert page.url.endswith(visit_url.rsplit("/", 2)[-1])
    assert await page.get_attribute("#step", "data-step") == "spo2"
    assert await page.locator("table.overview table.results[data-step=bp] tr").count() == 2
    await screen(page, "restart-resumed")
    await measure(page, "spo2")
    await record_ecg(page)
    await measure(page, "weight")
    await finish(page)
    async with page.expect_navigation():
        await page.click("a.lang")  # English
    assert await page.inner_text("h1") == "Visit summary"
    await screen(page, "summary-english")
    await again.drained()
    kinds = [r["kind"] for r in await readings_at_hub(world, patient_id)]
    assert kinds.count("bp_systolic") == 2 and "body_weight" in kinds
