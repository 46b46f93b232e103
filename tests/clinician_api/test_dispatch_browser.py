"""Two responder phones and a dispatcher console in Chromium: offer, decline, accept, stand down."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.dispatch.models import Aed
from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
from tests.alerts.dispatch.helpers import CENTRE, offset
from tests.alerts.dispatch.test_endpoints import ADDRESS, login, world
from tests.browser import SCREENS

PHONE = {"width": 390, "height": 844}
WAIT_MS = 45_000  # generous: the suite's cluster and fault tests may run beside it

pytestmark = pytest.mark.browser


async def shot(page: Any, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - one mkdir per screenshot
    await page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


async def sign_in(browser: Any, hub: Any, name: str, page_path: str, **context: Any) -> Any:
    ctx = await browser.new_context(**context)
    page = await ctx.new_page()
    await page.goto(f"{hub.url}{page_path}")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", f"pw-{name}")
    await page.click("button[type=submit]")
    await page.wait_for_url(f"**{page_path}")
    await page.locator("#status.live").wait_for(timeout=WAIT_MS)
    return page


async def phone(browser: Any, hub: Any, name: str, north_m: float) -> Any:
    """A responder's phone ``north_m`` north of the incident, signed in and on duty."""
    lat, lon = offset(*CENTRE, north_m, 0)
    page = await sign_in(
        browser, hub, name, "/respond", viewport=PHONE, device_scale_factor=2,
        geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"],
    )  # fmt: skip
    await page.click("#duty")
    await page.locator("#duty-state", has_text="On duty").wait_for(timeout=WAIT_MS)
    await page.locator("#position[data-shared]").wait_for(timeout=WAIT_MS)
    return page


async def seed(hub: Any) -> None:
    await world(hub.settings.database_url, 2)
    engine = make_engine(hub.settings.database_url)
    lat, lon = offset(*CENTRE, 0, 150)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            s.add(Aed(id="aed-radnice", latitude=lat, longitude=lon, timezone="Europe/Prague",
                      address="Prokešovo náměstí 8", access_hours="24/7",
                      notes="In the town hall lobby, left of the porter's desk"))  # fmt: skip
    finally:
        await engine.dispose()
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        disp = await login(client, "disp")
        for name in ("fr0", "fr1"):
            vet = {"qualification": "volunteer firefighter", "vetted_until": "2099-01-01"}
            r = await client.put(f"/api/responders/{name}", json=vet, headers=disp)
            r.raise_for_status()


async def test_offer_decline_accept_and_stand_down_across_two_phones_and_a_console(
    hub: Any, browser: Any
) -> None:
    await seed(hub)
    first = await phone(browser, hub, "fr0", 120)
    second = await phone(browser, hub, "fr1", 260)
    await shot(first, "respond-on-duty")
    console = await sign_in(
        browser, hub, "disp", "/dispatch", viewport={"width": 1280, "height": 860}
    )
    await console.fill("#address", ADDRESS)
    await console.fill("#latitude", str(CENTRE[0]))
    await console.fill("#longitude", str(CENTRE[1]))
    await console.click("#create button[type=submit]")

    for page in (first, second):
        await page.locator(".offer .accept").wait_for(timeout=WAIT_MS)
    assert "120 m S" in await first.inner_text(".offer .where")
    assert ADDRESS not in await first.inner_text("body")  # the address only after accepting
    await shot(first, "respond-offer")
    await shot(console, "dispatch-offers")

    await first.click(".offer .decline")
    await second.click(".offer .accept")
    await second.locator("#incident-card .address", has_text=ADDRESS).wait_for(timeout=WAIT_MS)
    assert "town hall lobby" in await second.inner_text("#incident-card .aed")
    await second.click("[data-status=en_route]")
    await second.locator("[data-status=en_route].done").wait_for(timeout=WAIT_MS)
    await shot(second, "respond-accepted")

    await console.locator("tr[data-responder=fr0] .state.declined").wait_for(timeout=WAIT_MS)
    await console.locator("tr[data-responder=fr1] .state.accepted").wait_for(timeout=WAIT_MS)
    await console.locator("#incident-state", has_text="en route").wait_for(timeout=WAIT_MS)
    await shot(console, "dispatch-answers")
    incident_id = await console.locator("#incidents li.sel").get_attribute("data-incident")

    await console.click("#stand-down")
    await console.locator("#incident-state", has_text="closed").wait_for(timeout=WAIT_MS)
    assert not await console.locator("#stand-down").is_visible()  # nothing left to stand down
    await second.locator("#message", has_text="Stood down").wait_for(timeout=WAIT_MS)
    await shot(second, "respond-stood-down")
    await shot(console, "dispatch-closed")
    gone = await second.request.get(f"{hub.url}/api/incidents/{incident_id}")
    assert gone.status == 404


async def seed_vf_patient(hub: Any) -> str:
    """Patient p1 at home in Ostrava, followed by the cardiologist; a vetted responder 200 m
    away. Returns the bridge's token."""
    from datetime import date

    from alerts.dispatch.models import Responder
    from patient_hub.accounts.service import create_user
    from patient_hub.patients import service as patients
    from patient_hub.patients.models import Patient
    from telemed_core.values import utc_now

    engine = make_engine(hub.settings.database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await patients.upsert_patient(s, "p1", "Patient One", utc_now())
            patient = await s.get(Patient, "p1")
            assert patient is not None
            patient.address_line, patient.city = "Nádražní 12", "Ostrava"
            patient.home_latitude, patient.home_longitude = CENTRE
            patient.sex, patient.birth_date = "male", date(1958, 11, 23)
            cardio = await create_user(s, "cardio", "pw-cardio", "cardiologist")
            await patients.add_to_care_team(s, cardio.id, "p1")
            fr = await create_user(s, "fr0", "pw-fr0", "responder")
            s.add(Responder(user_id=fr.id, qualification="firefighter", on_duty=True,
                            vetted_until=date(2099, 1, 1)))  # fmt: skip
            return await patients.enrol_bridge(s, "bridge-p1", patient_id="p1")
    finally:
        await engine.dispose()


async def play_vf_scenario(hub: Any, token: str, folder: Path) -> tuple[Any, asyncio.Event]:
    """The simulator's VF scenario (fibrillation from its 180th second), recorded into a real
    bridge outbox as if the last 230 s had just happened, then sent by a real uplink."""
    from datetime import timedelta

    from device_bridge.outbox import Outbox
    from device_bridge.pipeline import BridgePipeline
    from device_bridge.simulator import SimulatedPatient
    from device_bridge.uplink import Uplink
    from telemed_cli.simulate import ws_url
    from telemed_core.values import utc_now

    outbox = Outbox(folder / "bridge-p1.db")
    patient = SimulatedPatient("p1", seed=1000, scenario="ventricular-fibrillation")
    pipeline = BridgePipeline(outbox, {d.address: d for d in patient.bindings()})
    t0 = utc_now() - timedelta(seconds=230)
    for s in range(230):
        for note in patient.tick(t0 + timedelta(seconds=s)):
            pipeline.on_payload(note.address, note.characteristic, note.payload, note.received_at)
    stop = asyncio.Event()
    link = asyncio.create_task(Uplink(ws_url(hub.url), "bridge-p1", token, outbox).run(stop))
    return link, stop


async def test_from_a_vf_on_the_monitor_to_an_offer_on_a_responders_phone(
    hub: Any, browser: Any, tmp_path: Path
) -> None:
    token = await seed_vf_patient(hub)
    lat, lon = offset(*CENTRE, 200, 0)
    responder = await sign_in(
        browser, hub, "fr0", "/respond", viewport=PHONE,
        geolocation={"latitude": lat, "longitude": lon}, permissions=["geolocation"],
    )  # fmt: skip
    await responder.locator("#position[data-shared]").wait_for(timeout=WAIT_MS)
    monitor = await sign_in(
        browser, hub, "cardio", "/monitor", viewport={"width": 1280, "height": 800}
    )
    link, stop = await play_vf_scenario(hub, token, tmp_path)
    try:
        send = monitor.locator('#patient-p1 .finding[data-kind="ventricular_flutter_fib"] .send')
        await send.wait_for(timeout=60_000)
        await shot(monitor, "monitor-vf-send-responders")
        await send.click()
        await monitor.locator("#patient-p1 .finding .sent").wait_for(timeout=WAIT_MS)
        offer = responder.locator(".offer .where")
        await offer.wait_for(timeout=WAIT_MS)
        assert "200 m S" in await offer.inner_text()
        await shot(responder, "respond-offer-from-vf")
        await responder.click(".offer .accept")
        card = responder.locator("#incident-card .address", has_text="Nádražní 12, Ostrava")
        await card.wait_for(timeout=WAIT_MS)
        summary = await responder.inner_text("#incident-card")
        assert "ventricular fibrillation" in summary and "Man, " in summary
        assert "Patient One" not in summary  # a safe summary: no name
    finally:
        stop.set()
        await link
