"""FHIR Observation search on a real hub over a socket: the Bundle and its media type, patient,
code and category, dates, ``_lastUpdated`` and sorting."""

from __future__ import annotations

import pytest

from tests.clinician_api.fhir.search_world import (
    FINDING_CATEGORY,
    HL7_CATEGORY,
    HR_MDC,
    LOINC,
    MDC,
    P1_HR,
    World,
    codes,
    hub_test,
    ids,
    search,
    times,
)  # fmt: skip

# -- the Bundle and its media type ----------------------------------------------------------------


@hub_test
async def test_metadata_is_public_and_names_this_server(world: World) -> None:
    async with world.client(None) as c:
        r = await c.get("/metadata")
    cs = r.json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    assert cs["resourceType"] == "CapabilityStatement" and cs["kind"] == "instance"
    assert cs["implementation"]["url"] == world.hub.url + "/fhir"
    device = next(x for x in cs["rest"][0]["resource"] if x["type"] == "Device")
    assert {p["name"] for p in device["searchParam"]} <= {
        "_id",
        "patient",
        "identifier",
        "_count",
        "_sort",
    }


@hub_test
async def test_searchset_has_absolute_full_urls_match_mode_and_fhir_json(world: World) -> None:
    async with world.client() as c:
        r = await c.get("/Observation", params=P1_HR)
    bundle = r.json()
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert bundle["type"] == "searchset" and bundle["total"] == 24 + 6
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"{world.hub.url}/fhir/Observation/{entry['resource']['id']}"
    assert entry["search"] == {"mode": "match"}
    assert bundle["link"][0]["relation"] == "self"
    assert bundle["link"][0]["url"].startswith(world.hub.url + "/fhir/Observation?")


@hub_test
async def test_format_json_is_accepted_and_xml_is_406(world: World) -> None:
    async with world.client() as c:
        ok = await c.get("/Observation", params={**P1_HR, "_format": "json"})
        xml = await c.get("/Observation", params={**P1_HR, "_format": "xml"})
        read = await c.get("/Patient/p1", params={"_format": "application/fhir+json"})
    assert ok.status_code == 200 and read.status_code == 200
    assert xml.status_code == 406 and xml.json()["resourceType"] == "OperationOutcome"


# -- patient, code, category ------------------------------------------------------------------------


@hub_test
@pytest.mark.parametrize("ref", ["p1", "Patient/p1", "{base}/Patient/p1"])
async def test_patient_takes_an_id_a_reference_or_a_url(world: World, ref: str) -> None:
    ref = ref.format(base=world.hub.url + "/fhir")
    bundle = await search(world, {**P1_HR, "patient": ref})
    assert len(ids(bundle)) == 30


@hub_test
async def test_subject_is_the_same_as_patient(world: World) -> None:
    by_subject = await search(world, {"subject": "Patient/p1", "code": HR_MDC, "_count": "100"})
    assert ids(by_subject) == ids(await search(world, P1_HR))


@hub_test
async def test_loinc_code_finds_heart_and_pulse_rates_mdc_only_heart_rates(
    world: World,
) -> None:
    loinc = await search(world, {**P1_HR, "code": f"{LOINC}|8867-4"})
    mdc = await search(world, P1_HR)
    kinds = {c for e in loinc["entry"] for c in codes(e["resource"]) if c[0] == MDC}
    assert len(ids(mdc)) == 30 and len(ids(loinc)) == 30 + 2 + 1
    assert kinds == {(MDC, "147842"), (MDC, "149530"), (MDC, "149546")}  # HR, SpO2 pulse, cuff


@hub_test
@pytest.mark.parametrize("code", [f"{LOINC}|2708-6", f"{LOINC}|59408-5", f"{MDC}|150456", "150456"])
async def test_loinc_and_mdc_codes_of_one_kind_find_the_same_observations(
    world: World, code: str
) -> None:
    bundle = await search(world, {"patient": "p1", "code": code})
    assert len(ids(bundle)) == 2
    assert all(codes(e["resource"]) >= {(LOINC, "2708-6"), (MDC, "150456")} for e in bundle["entry"])  # fmt: skip


@hub_test
async def test_code_with_empty_system_matches_nothing(world: World) -> None:
    assert ids(await search(world, {"patient": "p1", "code": "|147842"})) == []


@hub_test
async def test_comma_in_code_is_or(world: World) -> None:
    bundle = await search(world, {**P1_HR, "code": f"{HR_MDC},{LOINC}|2708-6"})
    assert len(ids(bundle)) == 30 + 2


@hub_test
@pytest.mark.parametrize(
    ("code", "panels", "lone"),
    [(f"{LOINC}|85354-9", 3, 0), (f"{MDC}|150020", 3, 0), (f"{LOINC}|8480-6", 3, 1),
     (f"{LOINC}|8462-4", 3, 0), (f"{LOINC}|8478-0", 2, 0)],
)  # fmt: skip
async def test_bp_codes_return_panels(any_world: World, code: str, panels: int, lone: int) -> None:
    bundle = await search(any_world, {"patient": "p1", "code": code})
    found = ids(bundle)
    assert sum(i.startswith("bp-") for i in found) == panels
    assert sum(i.startswith("r-") for i in found) == lone
    panel = next(e["resource"] for e in bundle["entry"] if e["resource"]["id"].startswith("bp-"))
    assert (LOINC, "85354-9") in codes(panel) and len(panel["component"]) in (2, 3)


@hub_test
async def test_a_panel_is_read_by_its_systolic_rows_id(world: World) -> None:
    bundle = await search(world, {"patient": "p1", "code": f"{LOINC}|85354-9", "_sort": "date"})
    panel_id = ids(bundle)[0]
    async with world.client() as c:
        panel = (await c.get(f"/Observation/{panel_id}")).json()
        systolic = (await c.get(f"/Observation/r-{panel_id[3:]}")).json()
        lone = await c.get("/Observation/bp-999999")
    assert panel["id"] == panel_id and len(panel["component"]) == 3
    assert systolic["id"] == f"r-{panel_id[3:]}" and (LOINC, "8480-6") in codes(systolic)
    assert lone.status_code == 404


@hub_test
async def test_pulse_rate_taken_with_a_panel_has_the_cuff_code(world: World) -> None:
    bundle = await search(world, {"patient": "p1", "code": f"{MDC}|149546"})
    cuff = [e["resource"] for e in bundle["entry"] if (MDC, "149546") in codes(e["resource"])]
    assert [r["effectiveDateTime"] for r in cuff] == ["2026-11-26T07:00:00Z"]


@hub_test
@pytest.mark.parametrize(
    ("category", "expected"),
    [
        (f"{HL7_CATEGORY}|vital-signs", {"r": 30 + 2 + 2 + 1 + 1, "bp": 3}),
        ("laboratory", {"r": 1}),
        (f"{FINDING_CATEGORY}|finding", {"f": 2}),
        ("phd-observation", {"r": 30 + 2 + 2 + 1 + 1 + 1, "bp": 3, "ecg": 3}),
        ("survey", {}),
    ],
)
async def test_category_selects_what_carries_it(
    world: World, category: str, expected: dict[str, int]
) -> None:
    bundle = await search(world, {"patient": "p1", "category": category, "_count": "200"})
    prefixes: dict[str, int] = {}
    for i in ids(bundle):
        prefixes[i.split("-")[0]] = prefixes.get(i.split("-")[0], 0) + 1
    assert prefixes == expected


@hub_test
async def test_ecg_lead_code_returns_sampled_data(world: World) -> None:
    bundle = await search(world, {"patient": "p1", "code": f"{MDC}|131330"})  # lead II
    (obs,) = [e["resource"] for e in bundle["entry"]]
    assert obs["id"].startswith("ecg-") and obs["valueSampledData"]["data"] == "1 -2 3 40"


@hub_test
async def test_pleth_code_returns_the_pulse_waveform_and_no_ecg_code_does(world: World) -> None:
    bundle = await search(world, {"patient": "p2", "code": f"{MDC}|150452"})
    (obs,) = [e["resource"] for e in bundle["entry"]]
    assert obs["valueSampledData"]["data"] == "1500 1620 2100 1900"
    assert obs["valueSampledData"]["origin"]["code"] == "1"
    for ecg_code in ("131328", "131329"):
        bundle = await search(world, {"patient": "p2", "code": f"{MDC}|{ecg_code}"})
        assert not bundle.get("entry"), ecg_code
    bundle = await search(world, {"patient": "p2", "category": "phd-observation"})
    assert sorted(i.split("-")[0] for i in ids(bundle)) == ["ecg", "r"]


@hub_test
async def test_finding_code_returns_the_finding_with_its_period(world: World) -> None:
    bundle = await search(world, {"patient": "p1", "code": "atrial_fibrillation"})
    (obs,) = [e["resource"] for e in bundle["entry"]]
    assert obs["id"].startswith("f-") and obs["effectivePeriod"] == {
        "start": "2026-11-26T10:00:00Z"
    }
    assert obs["meta"]["lastUpdated"] == "2026-11-27T00:00:00Z"


# -- dates, _lastUpdated, sorting ---------------------------------------------------------------------


@hub_test
@pytest.mark.parametrize(
    ("dates", "count"),
    [
        (["2026-11-26"], 24),
        (["ne2026-11-26"], 6),
        (["lt2026-11-26T12:00:00Z"], 12),
        (["le2026-11-26T12:30:00Z"], 13),
        (["gt2026-11-26T12:30:00Z"], 17),
        (["ge2026-11-26T12:30:00Z"], 18),
        (["sa2026-11-26"], 6),
        (["eb2026-11-27"], 24),
        (["2026-11"], 30),
        (["ge2026-11-27T02:00:00+02:00"], 6),
        (["ge2026-11-26T06:00:00Z", "lt2026-11-26T12:00:00Z"], 6),
        (["lt2026-11-26T02:00:00Z,ge2026-11-27T05:00:00Z"], 3),
    ],
)
async def test_date_prefixes_and_partial_dates(
    any_world: World, dates: list[str], count: int
) -> None:
    params = [(k, v) for k, v in P1_HR.items()] + [("date", d) for d in dates]
    bundle = await search(any_world, params)
    assert len(ids(bundle)) == count and bundle["total"] == count


@hub_test
async def test_an_ongoing_finding_matches_any_later_date(any_world: World) -> None:
    params = {"patient": "p1", "category": f"{FINDING_CATEGORY}|finding", "date": "ge2027-01-01"}
    (obs,) = [e["resource"] for e in (await search(any_world, params))["entry"]]
    assert obs["code"]["coding"][0]["code"] == "atrial_fibrillation"


@hub_test
async def test_last_updated_filters_by_storage_time(world: World) -> None:
    bundle = await search(world, {**P1_HR, "_lastUpdated": "ge2026-11-28"})
    assert len(ids(bundle)) == 6
    assert {e["resource"]["meta"]["lastUpdated"] for e in bundle["entry"]} == {"2026-11-28T00:00:00Z"}  # fmt: skip


@hub_test
@pytest.mark.parametrize(
    ("sort", "first"), [("date", "00:30"), ("-date", "05:30"), (None, "05:30")]
)
async def test_sort_by_date(world: World, sort: str | None, first: str) -> None:
    params = {**P1_HR, **({"_sort": sort} if sort else {})}
    found = times(await search(world, params))
    assert found[0].endswith(f"T{first}:00Z")
    assert found == sorted(found, reverse=found[0] > found[-1])


@hub_test
async def test_sort_by_last_updated(world: World) -> None:
    found = await search(world, {**P1_HR, "_sort": "-_lastUpdated"})
    stored = [e["resource"]["meta"]["lastUpdated"] for e in found["entry"]]
    assert stored == sorted(stored, reverse=True) and stored[0] == "2026-11-28T00:00:00Z"
