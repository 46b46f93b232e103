"""FHIR read and search under /fhir: the parameter grammar (pure) and a real hub over a socket.

The hub tests share one hub and one data set (module scope: starting a hub and hashing the
seed users' passwords costs seconds); they only read, except the one that inserts a reading
while paging, which uses a kind no other test counts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from patient_hub.fhir.search.dates import parse_date_filter, parse_date_range
from patient_hub.fhir.search.errors import SearchParamError
from patient_hub.fhir.search.paging import Cursor
from patient_hub.fhir.search.parse import parse_lastn, parse_observation_search
from patient_hub.fhir.search.selection import Subset, select_category, select_code
from patient_hub.fhir.search.tokens import Token, parse_token, split_escaped
from tests.conftest import POSTGRES_URL, RunningHub, require_service, seed_world, start_hub

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
HL7_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FINDING_CATEGORY = "https://fhir.telemed.example/CodeSystem/observation-category"
READING_ID = "https://fhir.telemed.example/sid/reading"
HR_MDC = f"{MDC}|147842"
DAY = datetime(2026, 11, 26, tzinfo=UTC)
USERS = ("pat1", "nurse-a", "cardio", "resp", "admin")
hub_test = pytest.mark.asyncio(loop_scope="module")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# == the grammar (patient_hub.fhir.search), pure ================================================


@pytest.mark.parametrize(
    ("text", "lo", "hi"),
    [
        ("2026", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-11", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
        ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("2026-11-27", "2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"),
        ("2026-11-27T10:00Z", "2026-11-27T10:00:00Z", "2026-11-27T10:01:00Z"),
        ("2026-11-27T10:00:05Z", "2026-11-27T10:00:05Z", "2026-11-27T10:00:06Z"),
        ("2026-11-27T10:00:05.5Z", "2026-11-27T10:00:05.5Z", "2026-11-27T10:00:05.6Z"),
        ("2026-11-27T12:00:00+02:00", "2026-11-27T10:00:00Z", "2026-11-27T10:00:01Z"),
    ],
)
def test_a_partial_date_is_the_range_it_covers(text: str, lo: str, hi: str) -> None:
    span = parse_date_range(text)
    assert (span.lo, span.hi) == (at(lo), at(hi))


def test_a_date_without_time_is_a_day_in_the_servers_zone() -> None:
    span = parse_date_range("2026-11-27", ZoneInfo("Africa/Nairobi"))  # UTC+3
    assert (span.lo, span.hi) == (at("2026-11-26T21:00:00Z"), at("2026-11-27T21:00:00Z"))


@pytest.mark.parametrize("text", ["2026-11-27T10:00:00", "27/11/2026", "2026-13", "2026-02-30"])
def test_a_naive_or_malformed_date_is_refused(text: str) -> None:
    with pytest.raises(SearchParamError):
        parse_date_range(text)


@pytest.mark.parametrize(
    ("value", "matching"),
    [
        ("2026-11-27", {"10:00"}),
        ("eq2026-11-27", {"10:00"}),
        ("ne2026-11-27", {"prev", "next"}),
        ("gt2026-11-27T10:00:00Z", {"next"}),
        ("ge2026-11-27T10:00:00Z", {"10:00", "next"}),
        ("lt2026-11-27T10:00:00Z", {"prev"}),
        ("le2026-11-27T10:00:00Z", {"prev", "10:00"}),
        ("sa2026-11-27", {"next"}),
        ("eb2026-11-27", {"prev"}),
        ("lt2026-11-27,gt2026-11-27", {"prev", "next"}),
    ],
)
def test_date_prefixes_on_instants(value: str, matching: set[str]) -> None:
    instants = {
        "prev": at("2026-11-26T23:59:59Z"),
        "10:00": at("2026-11-27T10:00:00Z"),
        "next": at("2026-11-28T00:00:00Z"),
    }
    f = parse_date_filter(value)
    assert {name for name, t in instants.items() if f.matches(t, t)} == matching


@pytest.mark.parametrize(
    ("value", "ongoing", "ended"),
    [
        ("ge2026-12-01", True, False),
        ("gt2026-11-27", True, False),
        ("eq2026-11-27", False, True),
        ("eb2026-11-28", False, True),
        ("le2026-11-27", True, True),
        ("sa2026-11-26", True, True),
    ],
)
def test_date_prefixes_on_periods_treat_an_open_end_as_still_going(
    value: str, ongoing: bool, ended: bool
) -> None:
    f = parse_date_filter(value)
    start = at("2026-11-27T08:00:00Z")
    assert f.matches(start, None) is ongoing
    assert f.matches(start, at("2026-11-27T08:05:00Z")) is ended


def test_ap_prefix_is_refused() -> None:
    with pytest.raises(SearchParamError, match="prefix"):
        parse_date_filter("ap2026-11-27")


def test_loinc_token_selects_every_kind_carrying_it_mdc_only_its_own() -> None:
    assert select_code(Token(LOINC, "8867-4")).kinds == {"heart_rate", "pulse_rate"}
    assert select_code(Token(MDC, "147842")).kinds == {"heart_rate"}
    assert select_code(Token(MDC, "150452")).ecg_leads == Subset(frozenset({"PLETH"}))
    assert select_code(Token(MDC, "150036")).ecg_leads == Subset(frozenset({"ABP"}))
    every_lead = select_code(Token(MDC, "131328")).ecg_leads
    assert every_lead.every and every_lead.excluded == {"PLETH", "ABP"}
    assert not every_lead & Subset(frozenset({"PLETH"}))
    assert every_lead & Subset(frozenset({"II", "ABP"})) == Subset(frozenset({"II"}))
    assert (every_lead | Subset(frozenset({"ABP"}))).excluded == {"PLETH"}
    assert select_code(Token(None, "147842")).kinds == {"heart_rate"}
    assert select_code(Token(LOINC, "59408-5")).kinds == select_code(Token(MDC, "150456")).kinds


def test_empty_system_token_matches_no_coding_of_ours() -> None:
    assert select_code(Token("", "8867-4")).empty


def test_bp_codes_select_panels_and_lone_components() -> None:
    panel = select_code(Token(LOINC, "85354-9"))
    systolic = select_code(Token(LOINC, "8480-6"))
    mean = select_code(Token(MDC, "150023"))
    assert panel.kinds == set() and panel.panel_kinds >= {"bp_systolic"}
    assert systolic.kinds == {"bp_systolic"} and systolic.panel_kinds == {"bp_systolic"}
    assert mean.kinds == {"bp_mean"} and mean.panel_kinds == {"bp_mean"}


def test_categories_select_sources() -> None:
    vital = select_category(Token(HL7_CATEGORY, "vital-signs"))
    lab = select_category(Token(None, "laboratory"))
    findings = select_category(Token(FINDING_CATEGORY, "finding"))
    assert "glucose" not in vital.kinds and "heart_rate" in vital.kinds and vital.panel_kinds
    assert not vital.ecg_leads and not vital.finding_kinds
    assert lab.kinds == {"glucose"}
    assert findings.finding_kinds.every and not findings.kinds


def test_commas_are_or_and_repeated_codes_are_and() -> None:
    either = parse_observation_search([("code", f"{HR_MDC},{LOINC}|2708-6")]).selection
    both = parse_observation_search([("code", HR_MDC), ("code", f"{LOINC}|2708-6")]).selection
    assert either.kinds == {"heart_rate", "spo2"}
    assert both.empty


def test_unknown_parameter_is_refused_unless_lenient() -> None:
    with pytest.raises(SearchParamError, match="'colour'"):
        parse_observation_search([("colour", "red")])
    with pytest.raises(SearchParamError, match="modifier"):
        parse_observation_search([("code:text", "heart")])
    q = parse_observation_search([("colour", "red"), ("code", HR_MDC)], lenient=True)
    assert q.params == (("code", HR_MDC),)


def test_count_defaults_to_50_and_is_capped_at_1000() -> None:
    assert parse_observation_search([]).page.count == 50
    assert parse_observation_search([("_count", "5000")]).page.count == 1000
    with pytest.raises(SearchParamError):
        parse_observation_search([("_count", "-1")])


def test_empty_values_are_ignored() -> None:
    assert parse_observation_search([("code", ""), ("date", "")]).params == ()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("_sort", "value")], "_sort"),
        ([("_summary", "true")], "_summary"),
        ([("_cursor", "bm90LWpzb24")], "_cursor"),
        ([("_cursor", "x"), ("_offset", "3")], "either"),
        ([("_count", "5"), ("_count", "6")], "once"),
    ],
)
def test_malformed_paging_parameters_are_refused(
    params: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(SearchParamError, match=message):
        parse_observation_search(params)


def test_escaped_commas_and_bars_are_not_separators() -> None:
    (token,) = [parse_token(v) for v in split_escaped("a\\|b|c\\,d", ",")]
    assert token == Token("a|b", "c,d")


def test_cursor_round_trips() -> None:
    cursor = Cursor(False, ("2026-11-27T10:00:00+00:00", 1, 42))
    assert Cursor.decode(cursor.encode()) == cursor


def test_lastn_max_defaults_to_one() -> None:
    assert parse_lastn([("patient", "p1")]).max_per_series == 1
    assert parse_lastn([("patient", "Patient/p1"), ("max", "3")]).patients == {"p1"}


# == a hub with data ===========================================================================


@dataclass
class World:
    hub: RunningHub
    tokens: dict[str, str]

    def client(self, user: str | None = "admin", **headers: str) -> httpx.AsyncClient:
        if user is not None:
            headers["Authorization"] = f"Bearer {self.tokens[user]}"
        return httpx.AsyncClient(base_url=self.hub.url + "/fhir", headers=headers)


def _reading(seq: int, patient: str, device: str, kind: str, value: float, when: datetime) -> Any:
    from telemed_core.kinds import UNITS, Kind
    from telemed_core.values import Reading

    unit = UNITS[Kind(kind)]
    return Reading(
        seq=seq, patient_id=patient, device_id=device, kind=kind, value=value, unit=unit,
        measured_at=when,
    )  # fmt: skip


def _p1_readings() -> list[tuple[datetime, list[Any]]]:
    """p1: 24 hourly heart rates on 26 Nov and 6 on 27 Nov; pulse rate and SpO2 twice; three
    BP panels (two with mean) with a cuff pulse, one lone systolic; one glucose. Each batch
    with its stored_at (the day after it was measured)."""
    rows: list[Any] = []
    hr = [DAY + timedelta(hours=h, minutes=30) for h in range(30)]
    rows += [("hr-1", "heart_rate", 60 + i, t) for i, t in enumerate(hr)]
    for h in (8, 20):
        rows += [("ox-1", "pulse_rate", 70, DAY + timedelta(hours=h))]
        rows += [("ox-1", "spo2", 97, DAY + timedelta(hours=h))]
    for t, mean in ((DAY + timedelta(hours=7), True), (DAY + timedelta(hours=19), True),
                    (DAY + timedelta(days=1, hours=7), False)):  # fmt: skip
        rows += [("bp-1", "bp_systolic", 130, t), ("bp-1", "bp_diastolic", 85, t)]
        rows += [("bp-1", "bp_mean", 100, t)] if mean else []
    rows += [("bp-1", "pulse_rate", 66, DAY + timedelta(hours=7))]
    rows += [("bp-1", "bp_systolic", 142, DAY + timedelta(hours=12))]
    rows += [("gl-1", "glucose", 5.5, DAY + timedelta(hours=9))]
    readings = [_reading(seq, "p1", d, k, v, t) for seq, (d, k, v, t) in enumerate(rows, start=1)]
    by_day: dict[datetime, list[Any]] = {}
    for r in readings:
        stored = r.measured_at.replace(hour=0, minute=0) + timedelta(days=1)
        by_day.setdefault(stored, []).append(r)
    return sorted(by_day.items())


async def _load(database_url: str) -> None:
    from patient_hub.db import make_engine, make_sessionmaker, unit_of_work
    from patient_hub.findings.repository import upsert_findings
    from patient_hub.ingest.repository import insert_chunks, insert_readings
    from telemed_core.values import SampleChunk
    from telemed_signal.findings import Finding, Severity

    engine = make_engine(database_url)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            for stored_at, batch in _p1_readings():
                await insert_readings(s, "bridge-p1", batch, stored_at)
            for pid in ("p2", "p3"):
                hr = _reading(1, pid, f"hr-{pid[1]}", "heart_rate", 80, DAY + timedelta(hours=12))
                await insert_readings(s, f"bridge-{pid}", [hr], DAY + timedelta(days=1))
            ecg = [
                SampleChunk(seq=100 + i, patient_id="p1", device_id="h10", lead=lead, fs_hz=130,
                            start=DAY + timedelta(hours=10, seconds=s), samples=[1, -2, 3, 40])
                for i, (lead, s) in enumerate((("I", 0), ("I", 10), ("II", 0)))
            ]  # fmt: skip
            await insert_chunks(s, "bridge-p1", ecg, DAY + timedelta(days=1))
            pleth = SampleChunk(seq=200, patient_id="p2", device_id="bedside", kind="pleth",
                                unit="1", fs_hz=125, start=DAY + timedelta(hours=9),
                                samples=[1500, 1620, 2100, 1900])  # fmt: skip
            await insert_chunks(s, "bridge-p2", [pleth], DAY + timedelta(days=1))
            findings = [
                Finding("p1", "atrial_fibrillation", DAY + timedelta(hours=10), None,
                        Severity.HIGH, "RR irregularity (Petrenas 2015)", {"hr_bpm": 120}),
                Finding("p1", "spo2_desaturation", DAY + timedelta(hours=8),
                        DAY + timedelta(hours=8, minutes=5), Severity.MEDIUM, "ODI 3%",
                        {"spo2_pct": 88}),
            ]  # fmt: skip
            await upsert_findings(s, findings, DAY + timedelta(days=1))
    finally:
        await engine.dispose()


@asynccontextmanager
async def running_world(database_url: str) -> AsyncIterator[World]:
    hub = await start_hub(database_url)
    try:
        await seed_world(database_url)
        await _load(database_url)
        tokens = {}
        async with httpx.AsyncClient(base_url=hub.url) as c:
            for user in USERS:
                r = await c.post("/auth/token", data={"username": user, "password": f"pw-{user}"})
                tokens[user] = r.json()["access_token"]
        yield World(hub, tokens)
    finally:
        await hub.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    """The hub on SQLite (every test)."""
    async with running_world(f"sqlite:///{tmp_path_factory.mktemp('fhir') / 'hub.db'}") as w:
        yield w


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pg_world() -> AsyncIterator[World]:
    """The same on a fresh PostgreSQL database, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        async with running_world(POSTGRES_URL.rsplit("/", 1)[0] + "/" + name) as w:
            yield w
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_world(request: pytest.FixtureRequest) -> World:
    """For the tests whose SQL differs most between backends: run them on both."""
    found: World = request.getfixturevalue("world" if request.param == "sqlite" else "pg_world")
    return found


async def search(world: World, params: Any, user: str = "admin", path: str = "Observation") -> Any:
    async with world.client(user) as c:
        r = await c.get(f"/{path}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(bundle: Any) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])]


def codes(resource: Any) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in resource["code"]["coding"]}


def times(bundle: Any) -> list[str]:
    return [e["resource"]["effectiveDateTime"] for e in bundle["entry"]]


P1_HR = {"patient": "p1", "code": HR_MDC, "_count": "100"}


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
    readings = [_reading(10 + i, "p2", "th-2", "body_temperature", 37, DAY + timedelta(hours=i)) for i in range(5)]  # fmt: skip
    engine = make_engine(world.hub.settings.database_url)  # type: ignore[attr-defined]
    sessions = make_sessionmaker(engine)
    async with unit_of_work(sessions) as s:
        await insert_readings(s, "bridge-p2", readings, DAY + timedelta(days=1))
    async with world.client() as c:
        first = (await c.get("/Observation", params=params)).json()
        async with unit_of_work(sessions) as s:  # newer than everything on page one
            newer = _reading(20, "p2", "th-2", "body_temperature", 38, DAY + timedelta(days=2))
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
