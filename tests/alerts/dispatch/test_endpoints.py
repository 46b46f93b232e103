"""The dispatch REST API on a real hub: names of the issue, roles, races, bad input."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from alerts.dispatch.models import Incident, IncidentView, Offer
from patient_hub.db import make_engine, make_sessionmaker
from tests.alerts.dispatch.helpers import CENTRE, offset

ADDRESS = "Masarykovo náměstí 1, Ostrava"


@functools.cache
def password_hash(password: str) -> str:
    """argon2id, computed once per password for the whole session (it is slow on purpose)."""
    from argon2 import PasswordHasher

    return PasswordHasher().hash(password)


async def world(database_url: str, responders: int) -> None:
    """A dispatcher and ``responders`` responder accounts (passwords ``pw-<name>``)."""
    from patient_hub.accounts.models import User
    from patient_hub.db import unit_of_work

    names = [("disp", "dispatcher")] + [(f"fr{i}", "responder") for i in range(responders)]
    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for name, role in names:
                s.add(User(id=f"usr_{name}", username=name, role=role, active=True,
                           password_hash=password_hash(f"pw-{name}")))  # fmt: skip
    finally:
        await engine.dispose()


async def login(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    r = await client.post("/auth/token", data={"username": name, "password": f"pw-{name}"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def on_duty_at(client: httpx.AsyncClient, name: str, north_m: float) -> dict[str, str]:
    """Vet ``name``, put them on duty ``north_m`` north of the centre; their auth header."""
    disp = await login(client, "disp")
    vet = {"qualification": "firefighter", "vetted_until": "2099-01-01"}
    (await client.put(f"/api/responders/{name}", json=vet, headers=disp)).raise_for_status()
    me = await login(client, name)
    (
        await client.post("/api/responders/me/duty", json={"on_duty": True}, headers=me)
    ).raise_for_status()
    lat, lon = offset(*CENTRE, north_m, 0)
    pos = {"latitude": lat, "longitude": lon}
    (await client.post("/api/responders/me/position", json=pos, headers=me)).raise_for_status()
    return me


async def new_incident(client: httpx.AsyncClient) -> dict[str, Any]:
    body = {"latitude": CENTRE[0], "longitude": CENTRE[1], "address": ADDRESS}
    r = await client.post("/api/incidents", json=body, headers=await login(client, "disp"))
    assert r.status_code == 201, r.text
    return dict(r.json())


async def count(database_url: str, model: Any) -> int:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        await engine.dispose()


async def race_for_places(hub: Any, racers: int) -> list[httpx.Response]:
    """``racers`` responders offered one incident (K=2) accept at the same moment."""
    await world(hub.settings.database_url, racers)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        heads = [await on_duty_at(client, f"fr{i}", 50 + i) for i in range(racers)]
        inc = await new_incident(client)
        assert len(inc["offers"]) == 3  # the first phase: the 3 nearest
        for h in heads:
            assert len((await client.get("/api/responders/me/offers", headers=h)).json()) == 1
        return list(
            await asyncio.gather(
                *(client.post(f"/api/incidents/{inc['id']}/accept", headers=h) for h in heads)
            )
        )


async def test_exactly_k_of_three_simultaneous_accepts_win_on_sqlite(hub: Any) -> None:
    answers = await race_for_places(hub, 3)
    assert sorted(r.status_code for r in answers) == [200, 200, 409]
    loser = next(r for r in answers if r.status_code == 409).json()
    assert "places are taken" in loser["detail"]
    tasks = sorted(r.json()["task"] for r in answers if r.status_code == 200)
    assert tasks == ["aed", "cpr"] or tasks == ["cpr", "cpr"]  # "cpr" twice when no AED is near


@pytest.mark.postgres
async def test_exactly_k_of_three_simultaneous_accepts_win_on_postgresql(
    postgres_url: str, run_hub: Any
) -> None:
    hub = await run_hub(postgres_url)
    try:
        answers = await race_for_places(hub, 3)
        assert sorted(r.status_code for r in answers) == [200, 200, 409]
        engine = make_engine(postgres_url)
        try:
            async with make_sessionmaker(engine)() as s:
                accepted = await s.scalar(
                    select(func.count()).select_from(Offer).where(Offer.state == "accepted")
                )
                places = await s.scalar(select(Incident.accepted))
        finally:
            await engine.dispose()
        assert (accepted, places) == (2, 2)
    finally:
        await hub.stop()


async def test_an_offer_shows_distance_and_direction_but_not_the_address(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 300)
        inc = await new_incident(client)
        (offer,) = (await client.get("/api/responders/me/offers", headers=me)).json()
    assert offer["incident_id"] == inc["id"]
    assert 295 < offer["distance_m"] < 305 and offer["direction"] == "S"
    assert ADDRESS not in str(offer)


async def test_a_responder_sees_the_incident_only_after_accepting_and_until_it_closes(
    hub: Any,
) -> None:
    await world(hub.settings.database_url, 2)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        other = await on_duty_at(client, "fr1", 200)
        inc = await new_incident(client)
        url = f"/api/incidents/{inc['id']}"
        assert (await client.get(url, headers=me)).status_code == 404  # offered, not accepted
        accepted = await client.post(url + "/accept", headers=me)
        assert accepted.json()["address"] == ADDRESS and accepted.json()["task"] == "cpr"
        assert (await client.get(url, headers=me)).json()["address"] == ADDRESS
        assert (await client.get(url, headers=other)).status_code == 404  # not theirs
        close = await client.post(url + "/close", headers=await login(client, "disp"))
        assert close.json()["state"] == "closed"
        gone = await client.get(url, headers=me)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


async def test_every_read_of_an_incident_is_recorded_with_who_and_when(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        inc = await new_incident(client)
        before = await count(hub.settings.database_url, IncidentView)
        await client.post(f"/api/incidents/{inc['id']}/accept", headers=me)
        await client.get(f"/api/incidents/{inc['id']}", headers=me)
        await client.get(f"/api/incidents/{inc['id']}", headers=await login(client, "disp"))
    assert await count(hub.settings.database_url, IncidentView) == before + 3


@pytest.mark.parametrize(
    "body",
    [
        {"latitude": 91, "longitude": 18.2},
        {"latitude": "north", "longitude": 18.2},
        {"latitude": 49.8},
        {"latitude": 49.8, "longitude": 18.2, "altitude": 3},
    ],
)
async def test_a_malformed_position_is_refused_and_the_old_one_kept(hub: Any, body: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        before = (await client.get("/api/responders/me", headers=me)).json()
        r = await client.post("/api/responders/me/position", json=body, headers=me)
        after = (await client.get("/api/responders/me", headers=me)).json()
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert after["position_at"] == before["position_at"]


async def test_unknown_incidents_are_not_found(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        disp = await login(client, "disp")
        assert (await client.get("/api/incidents/inc_nope", headers=disp)).status_code == 404
        assert (await client.post("/api/incidents/inc_nope/accept", headers=me)).status_code == 404
        assert (await client.post("/api/incidents/inc_nope/close", headers=disp)).status_code == 404


async def test_an_accept_after_close_is_refused_and_changes_nothing(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await on_duty_at(client, "fr0", 100)
        inc = await new_incident(client)
        await client.post(f"/api/incidents/{inc['id']}/close", headers=await login(client, "disp"))
        r = await client.post(f"/api/incidents/{inc['id']}/accept", headers=me)
        state = (await client.get("/api/responders/me", headers=me)).json()
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    assert state["incident"] is None and state["offers"] == []


async def test_only_dispatchers_open_incidents(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await login(client, "fr0")
        body = {"latitude": CENTRE[0], "longitude": CENTRE[1], "address": ADDRESS}
        r = await client.post("/api/incidents", json=body, headers=me)
    assert r.status_code == 403
    assert await count(hub.settings.database_url, Incident) == 0


async def test_an_incident_without_an_address_is_refused(hub: Any) -> None:
    await world(hub.settings.database_url, 0)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        body = {"latitude": CENTRE[0], "longitude": CENTRE[1], "address": ""}
        r = await client.post("/api/incidents", json=body, headers=await login(client, "disp"))
    assert r.status_code == 422
    assert await count(hub.settings.database_url, Incident) == 0


async def test_going_on_duty_needs_a_valid_vetting(hub: Any) -> None:
    await world(hub.settings.database_url, 1)
    async with httpx.AsyncClient(base_url=hub.url, timeout=30) as client:
        me = await login(client, "fr0")
        r = await client.post("/api/responders/me/duty", json={"on_duty": True}, headers=me)
    assert r.status_code == 422 and "vetting" in r.json()["detail"]
