"""The visit service without a browser: confirmation of abnormal values, plausibility, what
goes to the outbox, local alerts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from device_bridge.outbox import Outbox
from telemed_core.errors import Conflict, InvalidInput
from telemedpoint_kiosk.devices import KioskDevices
from telemedpoint_kiosk.simulated import KIOSK_DEVICES, SimulatedDevices
from telemedpoint_kiosk.store import KioskStore, Visit
from telemedpoint_kiosk.visits import VisitService

PATIENT = {
    "family_name": "Nováková", "given_name": "Jana", "birth_date": "1955-03-12",
    "national_id": "555312/0012", "consent": "yes", "id_checked": "yes",
}  # fmt: skip


@dataclass
class Station:
    service: VisitService
    sim: SimulatedDevices
    outbox: Outbox
    store: KioskStore


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    store, outbox = KioskStore(tmp_path / "kiosk.db"), Outbox(tmp_path / "outbox.db")
    outbox.set_seq_base(0)  # no hub here: number the items from 1
    devices = KioskDevices(outbox, KIOSK_DEVICES)
    sim = SimulatedDevices(devices, measure_wall_s=0.0, strip_wall_s=0.0)
    devices.source = sim
    yield Station(VisitService(store, outbox, devices, measure_timeout_s=2.0), sim, outbox, store)
    outbox.close()
    store.close()


def visit(
    station: Station, protocol: str = "heart_failure", symptoms: tuple[str, ...] = ()
) -> Visit:
    patient = station.service.register(dict(PATIENT), "nurse-a")
    return station.service.start(patient.id, protocol, list(symptoms), "nurse-a")


def kinds(outbox: Outbox) -> list[str]:
    return [i.item_kind for i in outbox.pending(1000)]


async def test_a_registration_goes_to_the_outbox_before_any_reading(station: Station) -> None:
    v = visit(station)
    await station.service.measure(v, "bp")
    assert kinds(station.outbox)[0] == "patient"
    assert station.outbox.pending(1)[0].payload["national_id"] == "5553120012"


def test_a_birth_number_that_contradicts_the_birth_date_is_refused(station: Station) -> None:
    with pytest.raises(InvalidInput, match="encodes 12.03.1955"):
        station.service.register({**PATIENT, "birth_date": "1956-03-12"}, "nurse-a")
    assert station.outbox.depth() == 0


def test_registration_without_consent_is_refused(station: Station) -> None:
    with pytest.raises(InvalidInput, match="consent"):
        station.service.register({**PATIENT, "consent": ""}, "nurse-a")


def test_the_same_birth_number_cannot_be_registered_twice(station: Station) -> None:
    station.service.register(dict(PATIENT), "nurse-a")
    with pytest.raises(Conflict):
        station.service.register(dict(PATIENT), "nurse-a")


async def test_an_abnormal_value_waits_for_a_confirming_repeat(station: Station) -> None:
    v = visit(station, "hypertension")
    station.sim.script(
        "bp_cuff",
        {"bp_systolic": 130, "bp_diastolic": 80},
        {"bp_systolic": 172, "bp_diastolic": 98},
    )
    await station.service.measure(v, "bp")
    await station.service.measure(v, "bp")
    assert station.service.steps(v)[0].status == "confirm"
    station.sim.script("bp_cuff", {"bp_systolic": 175, "bp_diastolic": 101})
    await station.service.measure(v, "bp")
    assert station.service.steps(v)[0].status == "done"


async def test_a_confirmed_crisis_with_symptoms_tells_the_nurse_to_call_155(
    station: Station,
) -> None:
    v = visit(station, symptoms=("chest_pain",))
    station.sim.script("bp_cuff", *[{"bp_systolic": 190, "bp_diastolic": 112}] * 2)
    await station.service.measure(v, "bp")
    assert station.store.alerts(v.id) == []  # one crisis reading is not yet confirmed
    await station.service.measure(v, "bp")
    [alert] = station.store.alerts(v.id)
    assert (alert.rule, alert.level) == ("bp_crisis_symptoms", "critical")


async def test_a_confirmed_crisis_without_symptoms_asks_for_the_doctor_today(
    station: Station,
) -> None:
    v = visit(station)
    station.sim.script("bp_cuff", *[{"bp_systolic": 190, "bp_diastolic": 112}] * 2)
    await station.service.measure(v, "bp")
    await station.service.measure(v, "bp")
    assert [(a.rule, a.level) for a in station.store.alerts(v.id)] == [("bp_crisis", "warning")]


async def test_an_impossible_device_value_is_stored_flagged_and_does_not_count(
    station: Station,
) -> None:
    v = visit(station)
    station.sim.script("pulse_oximeter", {"spo2": 140, "pulse_rate": 80})
    m = await station.service.measure(v, "spo2")
    assert not m.usable
    spo2 = [i.payload for i in station.outbox.pending(100) if i.payload.get("kind") == "spo2"]
    assert spo2[0]["value"] == 140 and "invalid" in spo2[0]["flags"]


def test_an_impossible_manual_value_changes_nothing(station: Station) -> None:
    v = visit(station)
    before = station.outbox.depth()
    with pytest.raises(InvalidInput, match="body_weight"):
        station.service.enter_manually(v, "weight", {"body_weight": "0"})
    assert station.outbox.depth() == before and station.store.measurements(v.id) == []


def test_a_manual_value_is_flagged_manual(station: Station) -> None:
    v = visit(station)
    station.service.enter_manually(v, "spo2", {"spo2": "96", "pulse_rate": "70"})
    sent = [i.payload for i in station.outbox.pending(100) if i.item_kind == "reading"]
    assert {r["kind"] for r in sent} == {"spo2", "pulse_rate"} and all(
        r["flags"] == ["manual"] for r in sent
    )


async def test_a_device_disconnecting_keeps_what_was_measured(station: Station) -> None:
    from telemedpoint_kiosk.devices import DeviceProblem

    v = visit(station)
    await station.service.measure(v, "bp")
    station.sim.fail("bp_cuff")
    with pytest.raises(DeviceProblem) as problem:
        await station.service.measure(v, "bp")
    assert problem.value.code == "disconnected"
    assert len(station.store.measurements(v.id)) == 1


async def test_the_ecg_strip_is_classified_and_sent_as_one_strip_chunk(station: Station) -> None:
    v = visit(station)
    m = await station.service.record_ecg(v)
    [chunk] = [i.payload for i in station.outbox.pending(100) if i.item_kind == "chunk"]
    assert "strip" in chunk["flags"] and len(chunk["samples"]) == 30 * 130
    assert m.values["duration_s"] == 30 and m.usable


async def test_an_interrupted_strip_keeps_its_samples_and_asks_for_a_repeat(
    station: Station,
) -> None:
    v = visit(station)
    station.sim.fail("polar_h10")
    m = await station.service.record_ecg(v)
    assert not m.usable and m.note.startswith("disconnected")
    [chunk] = [i.payload for i in station.outbox.pending(100) if i.item_kind == "chunk"]
    assert 9 * 130 <= len(chunk["samples"]) < 30 * 130


def test_news2_appears_once_its_inputs_are_complete(station: Station) -> None:
    from telemedpoint_kiosk.rules import news2_of

    v = visit(station, "full")
    s = station.service
    s.enter_manually(v, "bp", {"bp_systolic": "125", "bp_diastolic": "80", "pulse_rate": "72"})
    s.enter_manually(v, "spo2", {"spo2": "97", "pulse_rate": "72"})
    s.enter_manually(v, "temperature", {"body_temperature": "36.8"})
    s.enter_manually(v, "resp_rate", {"respiratory_rate": "16"})
    assert news2_of(station.store.measurements(v.id)) is None
    s.enter_manually(v, "consciousness", {"consciousness": "0"})
    result = news2_of(station.store.measurements(v.id))
    assert result is not None and result.total == 0


async def test_a_silent_device_times_out_with_a_message(station: Station) -> None:
    from telemedpoint_kiosk.devices import DeviceProblem

    v = visit(station)
    station.sim.measure_wall_s = 5.0
    station.service.measure_timeout_s = 0.2
    with pytest.raises(DeviceProblem, match="no measurement"):
        await station.service.measure(v, "bp")
