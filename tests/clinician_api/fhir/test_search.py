"""FHIR search on a real hub over a socket: paging, totals, ``_id`` and identifier, ``$lastn``,
Patient and Device, what each user may see, and errors as OperationOutcome."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.clinician_api.fhir.search_world import (
    DAY,
    HR_MDC,
    LOINC,
    MDC,
    P1_HR,
    READING_ID,
    World,
    codes,
    hub_test,
    ids,
    reading,
    search,
    times,
)  # fmt: skip

# -- paging ------------------------------------------------------------------------------------------


async def follow(world: World, params: Any, rel: str = "next") -> list[list[str]]:
    """Pages got by following ``rel`` links from the first page until there is none."""
    pages = []
    async with world.client() as c:
        r = await c.get("/Observation", params=params)
        while True:
            bundle = r.json()
            pages.append(ids(bundle))
            link = next((x["url"] for x in bundle["link"] if x["relation"] == rel), None)
            if link is None:
                return pages
            r = await c.get(link)
            assert r.status_code == 200, r.text


@hub_test
@pytest.mark.parametrize("sort", ["-date", "date", "_lastUpdated", "-_lastUpdated"])
async def test_following_next_links_gives_everything_once(any_world: World, sort: str) -> None:
    everything = ids(await search(any_world, {"patient": "p1", "_count": "1000", "_sort": sort}))
    pages = await follow(any_world, {"patient": "p1", "_count": "7", "_sort": sort})
    flat = [i for page in pages for i in page]
    # HR 30, pulse 2 + cuff 1, SpO2 2, panels 3, lone systolic 1, glucose 1, ECG 3, findings 2
    assert len(everything) == 30 + 3 + 2 + 3 + 1 + 1 + 3 + 2
    assert flat == everything and all(len(p) == 7 for p in pages[:-1])


@hub_test
async def test_previous_links_walk_back_over_the_same_pages(any_world: World) -> None:
    params = {"patient": "p1", "_count": "6", "_sort": "date"}
    forward = await follow(any_world, params)
    async with any_world.client() as c:
        r = await c.get("/Observation", params=params)
        while next_url := next(
            (x["url"] for x in r.json()["link"] if x["relation"] == "next"), None
        ):
            r = await c.get(next_url)
        backward = [ids(r.json())]
        while prev := next(
            (x["url"] for x in r.json()["link"] if x["relation"] == "previous"), None
        ):
            r = await c.get(prev)
            backward.append(ids(r.json()))
    assert len(forward) == 8 and backward[::-1] == forward


@hub_test
async def test_previous_link_returns_the_page_before(world: World) -> None:
    async with world.client() as c:
        first = (await c.get("/Observation", params={**P1_HR, "_count": "10"})).json()
        second = (await c.get(next(x["url"] for x in first["link"] if x["relation"] == "next"))).json()  # fmt: skip
        back = next(x["url"] for x in second["link"] if x["relation"] == "previous")
        again = (await c.get(back)).json()
    assert ids(again) == ids(first) and "total" not in second
    assert not any(x["relation"] == "previous" for x in first["link"])


@hub_test
async def test_new_readings_do_not_shift_later_pages(world: World) -> None:
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.ingest.repository import insert_readings

    params = {"patient": "p2", "code": f"{LOINC}|8310-5", "_count": "2"}  # body temperature
    readings = [reading(10 + i, "p2", "th-2", "body_temperature", 37, DAY + timedelta(hours=i)) for i in range(5)]  # fmt: skip
    engine = make_engine(world.hub.settings.database_url)  # type: ignore[attr-defined]
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as s:
        await insert_readings(s, "bridge-p2", readings, DAY + timedelta(days=1))
    async with world.client() as c:
        first = (await c.get("/Observation", params=params)).json()
        async with unit_of_work(sessions) as s:  # newer than everything on page one
            newer = reading(20, "p2", "th-2", "body_temperature", 38, DAY + timedelta(days=2))
            await insert_readings(s, "bridge-p2", [newer], DAY + timedelta(days=2))
        nxt = next(x["url"] for x in first["link"] if x["relation"] == "next")
        second = (await c.get(nxt)).json()
    await engine.dispose()
    assert times(first) == ["2026-11-26T04:00:00Z", "2026-11-26T03:00:00Z"]
    assert times(second) == ["2026-11-26T02:00:00Z", "2026-11-26T01:00:00Z"]


@hub_test
async def test_offset_paging_links_by_offset(world: World) -> None:
    bundle = await search(world, {**P1_HR, "_count": "10", "_offset": "10", "_sort": "date"})
    links = {x["relation"]: x["url"] for x in bundle["link"]}
    assert times(bundle)[0] == "2026-11-26T10:30:00Z" and len(ids(bundle)) == 10
    assert "_offset=20" in links["next"] and "_offset=0" in links["previous"]


# -- totals -------------------------------------------------------------------------------------------


@hub_test
@pytest.mark.parametrize("params", [{"_summary": "count"}, {"_count": "0"}])
async def test_summary_count_returns_only_the_total(world: World, params: dict[str, str]) -> None:
    bundle = await search(world, {**P1_HR, **params})
    assert bundle["total"] == 30 and bundle["entry"] == []


@hub_test
async def test_total_is_given_when_cheap_or_asked_for(world: World) -> None:
    partial = await search(world, {**P1_HR, "_count": "5"})
    asked = await search(world, {**P1_HR, "_count": "5", "_total": "accurate"})
    complete = await search(world, {**P1_HR, "_count": "30"})
    assert "total" not in partial and asked["total"] == 30 and complete["total"] == 30


# -- _id and identifier ------------------------------------------------------------------------------


@hub_test
async def test_id_search_finds_readings_panels_chunks_and_findings(any_world: World) -> None:
    everything = ids(await search(any_world, {"patient": "p1", "_count": "1000"}))
    picked = [next(i for i in everything if i.startswith(p)) for p in ("r-", "bp-", "ecg-", "f-")]
    bundle = await search(any_world, {"_id": ",".join(picked)})
    assert sorted(ids(bundle)) == sorted(picked)


@hub_test
async def test_identifier_of_a_diastolic_reading_finds_its_panel(any_world: World) -> None:
    panel = (await search(any_world, {"patient": "p1", "code": f"{LOINC}|85354-9", "_count": "1"}))["entry"][0]["resource"]  # fmt: skip
    diastolic = panel["identifier"][1]
    assert diastolic["system"] == READING_ID
    bundle = await search(any_world, {"identifier": f"{READING_ID}|{diastolic['value']}"})
    assert ids(bundle) == [panel["id"]]


# -- $lastn ------------------------------------------------------------------------------------------


@hub_test
async def test_lastn_groups_dual_coded_observations_into_one_series(any_world: World) -> None:
    both = {"patient": "p1", "code": f"{LOINC}|2708-6,{MDC}|150456", "max": "1"}
    bundle = await search(any_world, both, path="Observation/$lastn")
    (obs,) = [e["resource"] for e in bundle["entry"]]
    assert obs["effectiveDateTime"] == "2026-11-26T20:00:00Z" and bundle["total"] == 1


@hub_test
async def test_lastn_returns_the_newest_n_of_every_series(any_world: World) -> None:
    bundle = await search(any_world, {"patient": "p1", "max": "2"}, path="Observation/$lastn")
    found = ids(bundle)
    hr = [e["resource"] for e in bundle["entry"] if (MDC, "147842") in codes(e["resource"])]
    assert [r["effectiveDateTime"] for r in hr] == ["2026-11-27T05:30:00Z", "2026-11-27T04:30:00Z"]
    # HR 2, pulse 2, SpO2 2, glucose 1, panels 2, lone systolic 1, ECG I 2 + II 1, findings 1 + 1
    assert len(found) == 2 + 2 + 2 + 1 + 2 + 1 + 3 + 2 and len(set(found)) == len(found)


@hub_test
async def test_lastn_loinc_heart_rate_code_gives_heart_and_pulse_series(any_world: World) -> None:
    params = {"patient": "p1", "code": f"{LOINC}|8867-4"}
    bundle = await search(any_world, params, path="Observation/$lastn")
    assert sorted(times(bundle)) == ["2026-11-26T20:00:00Z", "2026-11-27T05:30:00Z"]


@hub_test
async def test_lastn_without_patient_covers_the_users_patients(world: World) -> None:
    bundle = await search(world, {"code": HR_MDC}, user="nurse-a", path="Observation/$lastn")
    assert {e["resource"]["subject"]["reference"] for e in bundle["entry"]} == {"Patient/p1", "Patient/p2"}  # fmt: skip


# -- Patient and Device ------------------------------------------------------------------------------


@hub_test
async def test_patient_search_and_read(world: World) -> None:
    bundle = await search(world, {}, path="Patient")
    async with world.client() as c:
        p1 = (await c.get("/Patient/p1")).json()
    assert ids(bundle) == ["p1", "p2", "p3"] and bundle["total"] == 3
    assert p1["resourceType"] == "Patient" and p1["name"] == [{"text": "Patient p1"}]
    by_identifier = await search(world, {"identifier": "https://fhir.telemed.example/sid/patient|p2"}, path="Patient")  # fmt: skip
    assert ids(by_identifier) == ["p2"]


@hub_test
async def test_device_search_by_patient_lists_its_devices_and_gateway(any_world: World) -> None:
    bundle = await search(any_world, {"patient": "p1"}, path="Device")
    assert ids(bundle) == ["phd-bp-1", "phd-gl-1", "phd-h10", "phd-hr-1", "phd-ox-1", "phg-bridge-p1"]  # fmt: skip
    async with any_world.client() as c:
        bp = (await c.get("/Device/phd-bp-1")).json()
    assert bp["patient"] == {"reference": "Patient/p1"}
    assert bp["specialization"][0]["systemType"]["coding"][0]["code"] == "528391"  # BP


# -- access ------------------------------------------------------------------------------------------


@hub_test
@pytest.mark.parametrize(
    ("user", "patients"),
    [("pat1", {"p1"}), ("nurse-a", {"p1", "p2"}), ("cardio", {"p3"}), ("resp", set()),
     ("admin", {"p1", "p2", "p3"})],
)  # fmt: skip
async def test_search_without_patient_sees_what_the_user_may(
    any_world: World, user: str, patients: set[str]
) -> None:
    bundle = await search(any_world, {"code": HR_MDC, "_count": "1000"}, user=user)
    assert {e["resource"]["subject"]["reference"][8:] for e in bundle["entry"]} == patients
    assert {p["id"] for p in [e["resource"] for e in (await search(any_world, {}, user, "Patient"))["entry"]]} == patients  # fmt: skip


@hub_test
async def test_search_for_an_invisible_patient_is_empty_like_an_unknown_one(world: World) -> None:
    other = await search(world, {"patient": "p2"}, user="pat1")
    unknown = await search(world, {"patient": "nobody"}, user="pat1")
    assert other["entry"] == unknown["entry"] == [] and other["total"] == unknown["total"] == 0


@hub_test
async def test_reading_what_the_user_may_not_see_is_404_like_what_does_not_exist(
    world: World,
) -> None:
    p2_hr = ids(await search(world, {"patient": "p2", "code": HR_MDC}))[0]
    async with world.client("pat1") as c:
        responses = [
            await c.get(path)
            for path in ("/Patient/p2", f"/Observation/{p2_hr}", "/Device/phd-hr-2",
                         "/Device/phg-bridge-p2", "/Patient/nobody", "/Observation/r-999999",
                         "/Observation/nonsense", "/Device/phd-nothing")
        ]  # fmt: skip
        own = await c.get("/Device/phd-hr-1")
    assert own.status_code == 200
    for r in responses:
        assert r.status_code == 404, r.request.url
        assert r.json()["resourceType"] == "OperationOutcome"
        assert r.json()["issue"][0]["code"] == "not-found"


@hub_test
@pytest.mark.parametrize("path", ["/Observation", "/Observation/r-1", "/Patient", "/Device", "/Observation/$lastn"])  # fmt: skip
async def test_no_token_is_401_operation_outcome(world: World, path: str) -> None:
    async with world.client(None) as c:
        r = await c.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["issue"][0]["code"] == "login"


# -- errors ------------------------------------------------------------------------------------------


@hub_test
@pytest.mark.parametrize(
    "params",
    [{"colour": "red"}, {"date": "2026-11-27T10:00:00"}, {"date": "ap2026-11-27"},
     {"_count": "many"}, {"_sort": "value"}, {"_cursor": "garbage"}, {"code:text": "heart"}],
)  # fmt: skip
async def test_bad_parameters_are_400_operation_outcome(
    world: World, params: dict[str, str]
) -> None:
    async with world.client() as c:
        r = await c.get("/Observation", params=params)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/fhir+json")
    outcome = r.json()
    assert (
        outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == "invalid"
    )


@hub_test
async def test_lenient_handling_ignores_unknown_parameters(world: World) -> None:
    async with world.client(Prefer="handling=lenient") as c:
        r = await c.get("/Observation", params={**P1_HR, "colour": "red"})
    assert r.status_code == 200 and len(ids(r.json())) == 30
    assert "colour" not in r.json()["link"][0]["url"]


@hub_test
async def test_every_entry_is_valid_r4(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    bundle = await search(world, {"patient": "p1", "_count": "1000"})
    Bundle.model_validate_json(json.dumps(bundle))
