"""Readings, chunks, patients, devices, findings -> FHIR R4 and back."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient

from patient_hub.fhir import (
    FhirMappingError,
    bp_panel,
    chunk_to_observation,
    derived_observation,
    device_to_fhir,
    finding_to_fhir,
    gateway_to_fhir,
    observation_to_chunk,
    observation_to_readings,
    observations_from_rows,
    patient_to_fhir,
    reading_to_observation,
)
from patient_hub.fhir import examples as ex
from patient_hub.fhir.common import decode_id, encode_id
from patient_hub.ingest.models import ReadingRow
from telemed_core.kinds import UNITS, Kind

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
VS = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CAT = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
GATEWAY = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
AT = ex.AT


def row(kind: str, value: float | None, **kw: Any) -> ex.SampleReading:
    return ex.SampleReading(
        kind=kind, value=value, unit=UNITS[Kind(kind)], seq=kw.pop("seq", 1), **kw
    )


def codings(obs: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in obs["code"]["coding"]}


def categories(obs: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for cat in obs["category"] for c in cat["coding"]}


SCALARS = ex.scalar_rows()


@pytest.mark.parametrize("sample", SCALARS, ids=lambda r: r.kind)
def test_every_scalar_kind_maps_to_a_valid_r4b_observation(sample: ex.SampleReading) -> None:
    obs = reading_to_observation(sample)
    Observation.model_validate(obs)
    assert obs["effectiveDateTime"] == "2025-03-01T08:30:00Z"
    assert obs["valueQuantity"] == {
        "value": sample.value,
        "unit": obs["valueQuantity"]["unit"],
        "system": "http://unitsofmeasure.org",
        "code": UNITS[Kind(sample.kind)],
    }
    assert (MDC, obs["code"]["coding"][-1]["code"]) in codings(obs)
    assert (PHD_CAT, "phd-observation") in categories(obs)
    assert obs["device"] == {"reference": f"Device/phd-{sample.device_id}"}
    assert obs["subject"] == {"reference": "Patient/patient-042"}
    assert obs["extension"] == [
        {"url": GATEWAY, "valueReference": {"reference": "Device/phg-home-gw-17"}}
    ]


@pytest.mark.parametrize(
    ("kind", "profile", "loinc"),
    [
        ("heart_rate", "heartrate", "8867-4"),
        ("pulse_rate", "heartrate", "8867-4"),
        ("spo2", "oxygensat", "2708-6"),
        ("body_temperature", "bodytemp", "8310-5"),
        ("body_weight", "bodyweight", "29463-7"),
        ("respiratory_rate", "resprate", "9279-1"),
    ],
)
def test_vital_signs_are_dual_coded_and_claim_their_profile(
    kind: str, profile: str, loinc: str
) -> None:
    obs = reading_to_observation(row(kind, 50.0))
    assert (LOINC, loinc) in codings(obs)
    assert (VS, "vital-signs") in categories(obs)
    assert f"http://hl7.org/fhir/StructureDefinition/{profile}" in obs["meta"]["profile"]


@pytest.mark.parametrize("kind", ["rr_interval", "cuff_pressure", "battery_level"])
def test_device_kinds_are_phd_only(kind: str) -> None:
    obs = reading_to_observation(row(kind, 10.0))
    assert categories(obs) == {(PHD_CAT, "phd-observation")}
    assert all(system == MDC for system, _ in codings(obs))
    assert obs["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/phd/StructureDefinition/PhdNumericObservation"
    ]


def test_glucose_is_laboratory_not_vital_signs() -> None:
    obs = reading_to_observation(row("glucose", 5.6))
    assert (VS, "laboratory") in categories(obs) and (VS, "vital-signs") not in categories(obs)
    assert (LOINC, "14743-9") in codings(obs)


def test_identifiers_are_the_ingest_key_and_the_phd_conditional_create_id() -> None:
    sample = row("spo2", 97.0, seq=4711, device_time=datetime(2025, 3, 1, 8, 29, 58, 250_000, UTC))
    ours, phd = reading_to_observation(sample)["identifier"]
    assert ours == {
        "system": "https://fhir.telemed.example/sid/reading",
        "value": "home-gw-17/4711",
    }
    # device-patient-type-timestamp, with the device's own clock (PHD IG)
    assert phd == {"value": "dev-omron-1-patient-042-150456-20250301082958.25"}


@pytest.mark.parametrize("sample", SCALARS, ids=lambda r: r.kind)
def test_round_trip_gives_back_value_unit_time_device_and_source(sample: ex.SampleReading) -> None:
    (back,) = observation_to_readings(reading_to_observation(sample))
    assert back["kind"] == sample.kind
    assert back["value"] == sample.value and back["unit"] == sample.unit
    assert back["measured_at"] == sample.measured_at
    assert back["device_id"] == sample.device_id and back["patient_id"] == sample.patient_id
    assert (back["bridge_id"], back["seq"]) == (sample.bridge_id, sample.seq)
    assert back["flags"] == []


def test_round_trip_of_an_orm_row_with_ids_that_need_escaping() -> None:
    orm = ReadingRow(
        id=5, bridge_id="kiosk:3", seq=9, patient_id="p_1", device_id="aa:bb_cc.dd",
        kind="heart_rate", value=61.5, unit="/min", measured_at=AT, device_time=None,
        flags="clock_unsure",
    )  # fmt: skip
    obs = reading_to_observation(orm, base_url="https://hub.example/fhir/")
    Observation.model_validate(obs)
    assert obs["id"] == "r-5"
    assert obs["device"]["reference"] == "https://hub.example/fhir/Device/phd-aa.cbb.ucc.ddd"
    (back,) = observation_to_readings(obs)
    assert (back["device_id"], back["patient_id"], back["bridge_id"]) == (
        "aa:bb_cc.dd",
        "p_1",
        "kiosk:3",
    )
    assert back["flags"] == ["clock_unsure"] and back["value"] == 61.5


def test_ids_too_long_for_fhir_are_hashed_and_carried_by_identifier() -> None:
    long_id = "d" * 64
    assert encode_id(long_id, "phd-") is None
    obs = reading_to_observation(row("heart_rate", 60.0, device_id=long_id))
    assert len(obs["device"]["reference"].split("/")[1]) <= 64
    assert observation_to_readings(obs)[0]["device_id"] == long_id


@pytest.mark.parametrize("raw", ["plain-id", "a.b", "x_y:z", "..__::", "Ab9-"])
def test_id_encoding_round_trips(raw: str) -> None:
    fhir_id = encode_id(raw, "phd-")
    assert fhir_id is not None and decode_id(fhir_id, "phd-") == raw


# -- invalid, early, simulated ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("special", "code"),
    [("nan", "not-a-number"), ("+inf", "positive-infinity"), ("-inf", "negative-infinity"),
     ("nres", "error"), (None, "error")],
)  # fmt: skip
def test_missing_value_becomes_data_absent_reason(special: str | None, code: str) -> None:
    obs = reading_to_observation(row("spo2", None, flags="invalid"), special=special)
    Observation.model_validate(obs)
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == code
    (back,) = observation_to_readings(obs)
    assert back["value"] is None and "invalid" in back["flags"]
    assert back["data_absent_reason"] == code


def test_invalid_with_a_value_keeps_it_as_entered_in_error() -> None:
    obs = reading_to_observation(row("heart_rate", 0.0, flags="invalid"))
    assert obs["status"] == "entered-in-error" and obs["valueQuantity"]["value"] == 0.0
    assert obs["note"][0]["text"].startswith("The device flagged")
    (back,) = observation_to_readings(obs)
    assert back["value"] == 0.0 and back["flags"] == ["invalid"]


def test_early_is_preliminary_and_simulated_is_htest() -> None:
    obs = reading_to_observation(row("spo2", 93.0, flags="early,simulated"))
    assert obs["status"] == "preliminary"
    assert obs["interpretation"][0]["coding"][0]["code"] == "early-indication"
    assert obs["meta"]["security"][0]["code"] == "HTEST"
    assert observation_to_readings(obs)[0]["flags"] == ["early", "simulated"]


def test_waveform_and_wrong_unit_rows_are_refused() -> None:
    with pytest.raises(FhirMappingError, match="waveform"):
        reading_to_observation(replace(row("heart_rate", 1.0), kind="ecg", unit="uV"))
    with pytest.raises(FhirMappingError, match="must be in '/min'"):
        reading_to_observation(replace(row("heart_rate", 1.0), unit="bpm"))
    with pytest.raises(FhirMappingError, match="naive datetime"):
        reading_to_observation(replace(row("heart_rate", 1.0), measured_at=datetime(2025, 1, 1)))


# -- blood pressure ---------------------------------------------------------------------------


def test_bp_components_taken_together_make_one_panel() -> None:
    obs = bp_panel(ex.bp_rows())
    Observation.model_validate(obs)
    assert (LOINC, "85354-9") in codings(obs) and (MDC, "150020") in codings(obs)
    assert "valueQuantity" not in obs
    comps = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in obs["component"]}
    assert comps == {"8480-6": 128.0, "8462-4": 82.0, "8478-0": 97.0}
    assert obs["meta"]["profile"][0] == "http://hl7.org/fhir/StructureDefinition/bp"


def test_bp_panel_round_trips_to_three_readings_with_their_sources() -> None:
    back = observation_to_readings(bp_panel(ex.bp_rows()))
    assert [(r["kind"], r["value"], r["unit"], r["seq"]) for r in back] == [
        ("bp_systolic", 128.0, "mm[Hg]", 201),
        ("bp_diastolic", 82.0, "mm[Hg]", 202),
        ("bp_mean", 97.0, "mm[Hg]", 203),
    ]
    assert all(r["measured_at"] == AT and r["device_id"] == "dev-omron-1" for r in back)


def test_bp_panel_with_a_missing_component_value_uses_data_absent_reason() -> None:
    sys_, dia, _ = ex.bp_rows()
    obs = bp_panel([sys_, replace(dia, value=None, flags="invalid")])
    Observation.model_validate(obs)
    assert obs["component"][1]["dataAbsentReason"]["coding"][0]["code"] == "error"


def test_bp_panel_refuses_rows_that_were_not_taken_together() -> None:
    sys_, dia, _ = ex.bp_rows()
    with pytest.raises(FhirMappingError, match="share patient, device and measured_at"):
        bp_panel([sys_, replace(dia, measured_at=AT + timedelta(minutes=1))])
    with pytest.raises(FhirMappingError, match="needs both"):
        bp_panel([sys_])


def test_observations_from_rows_pairs_bp_and_maps_the_rest_one_to_one() -> None:
    sys_, dia, mean = ex.bp_rows()
    pulse = row("pulse_rate", 66.0, seq=204)  # same device and time as the cuff reading
    later = replace(sys_, seq=205, measured_at=AT + timedelta(hours=12))  # alone: one-to-one
    spo2 = row("spo2", 96.0, seq=206, device_id="dev-nonin-3230")
    out = observations_from_rows([sys_, pulse, dia, mean, later, spo2])
    assert [o["code"]["text"] for o in out] == [
        "Blood pressure panel", "Pulse rate", "Systolic blood pressure", "Oxygen saturation",
    ]  # fmt: skip
    assert (MDC, "149546") in codings(out[1])  # pulse from the cuff, not the oximeter's 149530
    assert len(out[0]["component"]) == 3
    for obs in out:
        Observation.model_validate(obs)
    readings = [r for o in out for r in observation_to_readings(o)]
    assert sorted(r["seq"] for r in readings) == [201, 202, 203, 204, 205, 206]


# -- unit conversions and bad input on the way in ------------------------------------------


@pytest.mark.parametrize(
    ("kind", "unit", "value", "expected"),
    [
        ("body_temperature", "[degF]", 98.6, 37.0),
        ("body_weight", "[lb_av]", 100.0, 45.359237),
        ("body_weight", "g", 82400.0, 82.4),
        ("glucose", "mg/dL", 100.0, 5.5508),
        ("bp_systolic", "kPa", 16.0, 120.0098),
        ("rr_interval", "s", 0.8, 800.0),
        ("heart_rate", "{beats}/min", 70.0, 70.0),
    ],
)
def test_supported_ucum_units_are_converted(
    kind: str, unit: str, value: float, expected: float
) -> None:
    obs = reading_to_observation(row(kind, 1.0))
    obs["valueQuantity"].update(code=unit, value=value)
    assert math.isclose(observation_to_readings(obs)[0]["value"], expected, rel_tol=1e-4)


def test_mdc_unit_codes_are_accepted() -> None:
    obs = reading_to_observation(row("bp_systolic", 1.0))
    obs["valueQuantity"].update(system=MDC, code="266016", value=121)
    assert observation_to_readings(obs)[0]["value"] == 121.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda o: o["valueQuantity"].update(code="[in_i]"), "body_weight in '\\[in_i\\]' is not supported"),
        (lambda o: o["valueQuantity"].update(system="http://example.org"), "must be a UCUM code"),
        (lambda o: o.update(code={"coding": [{"system": LOINC, "code": "1234-5"}]}), "not a supported kind"),
        (lambda o: o.update(effectiveDateTime="2025-03-01T08:30:00"), "has no UTC offset"),
        (lambda o: o.update(effectiveDateTime="2025-03-01"), "time of day is required"),
        (lambda o: o.pop("valueQuantity"), "neither valueQuantity nor dataAbsentReason"),
        (lambda o: o.update(valueString="heavy") or o.pop("valueQuantity"),
         "valueString is not supported"),
        (lambda o: o.update(resourceType="Patient"), "expected an Observation"),
    ],
)  # fmt: skip
def test_bad_observations_get_an_error_naming_the_problem(edit: Any, message: str) -> None:
    obs = reading_to_observation(row("body_weight", 80.0))
    edit(obs)
    with pytest.raises(FhirMappingError, match=message):
        observation_to_readings(obs)


def test_phd_gateway_observation_with_temporary_references_is_ingestible() -> None:
    phd = {
        "resourceType": "Observation", "status": "final",
        "code": {"coding": [{"system": MDC, "code": "149530"}, {"system": LOINC, "code": "8867-4"}]},
        "subject": {"reference": "urn:uuid:7d7c3f0e-3c1b-4f3c-9a7e-1a2b3c4d5e6f"},
        "device": {"reference": "Device/phd-74E8FFFEFF051C00.001C05FFE874"},
        "effectiveDateTime": "2018-11-13T17:59:02-05:00",
        "valueQuantity": {"value": 48.0, "system": "http://unitsofmeasure.org", "code": "/min"},
    }  # fmt: skip
    (r,) = observation_to_readings(phd)
    assert (r["kind"], r["value"], r["patient_id"]) == ("pulse_rate", 48.0, None)
    assert r["measured_at"] == datetime(2018, 11, 13, 22, 59, 2, tzinfo=UTC)


# -- ECG ------------------------------------------------------------------------------------


def test_ecg_chunk_becomes_sampled_data_of_one_lead() -> None:
    obs = chunk_to_observation(ex.ecg_chunk())
    Observation.model_validate(obs)
    sd = obs["valueSampledData"]
    assert sd["origin"] == {
        "value": 0,
        "unit": "uV",
        "system": "http://unitsofmeasure.org",
        "code": "uV",
    }
    assert math.isclose(sd["period"], 1000 / 130) and sd["factor"] == 1 and sd["dimensions"] == 1
    assert sd["data"] == " ".join(map(str, ex.ECG_SAMPLES_UV))
    assert codings(obs) == {(MDC, "131329")}
    assert obs["effectivePeriod"]["start"] == "2025-03-01T08:30:00Z"
    end = AT + timedelta(seconds=(len(ex.ECG_SAMPLES_UV) - 1) / 130)
    assert datetime.fromisoformat(obs["effectivePeriod"]["end"]) == end
    assert obs["identifier"][0]["value"] == "home-gw-17/900"


def test_ecg_round_trip_and_mv_scaling() -> None:
    obs = chunk_to_observation(ex.ecg_chunk())
    back = observation_to_chunk(obs)
    assert back["samples"] == ex.ECG_SAMPLES_UV and back["lead"] == "I"
    assert math.isclose(back["fs_hz"], 130.0) and back["start"] == AT
    assert back["device_id"] == "dev-polar-h10"
    obs["valueSampledData"].update(
        origin={"value": -0.5, "code": "mV"}, factor=0.001, data="500 1500"
    )
    assert observation_to_chunk(obs)["samples"] == [0, 1000]
    with pytest.raises(FhirMappingError, match="use observation_to_chunk"):
        observation_to_readings(obs)


@pytest.mark.parametrize("kind", ["pleth", "abp"])
def test_pulse_waveforms_become_sampled_data_and_back(kind: str) -> None:
    chunk = ex.pulse_chunks()[kind]
    obs = chunk_to_observation(chunk)
    Observation.model_validate(obs)
    sd = obs["valueSampledData"]
    unit = {"pleth": "1", "abp": "mm[Hg]"}[kind]
    assert sd["origin"]["code"] == unit and sd["factor"] == chunk.factor
    assert codings(obs) == {(MDC, {"pleth": "150452", "abp": "150036"}[kind])}
    back = observation_to_chunk(obs)
    samples = ex.PLETH_SAMPLES if kind == "pleth" else ex.ABP_SAMPLES
    assert (back["kind"], back["lead"], back["unit"]) == (kind, kind.upper(), unit)
    assert back["samples"] == list(samples) and back["factor"] == chunk.factor
    assert math.isclose(back["fs_hz"], 125.0)
    sd["data"] = "1.5 2"
    with pytest.raises(FhirMappingError, match="integers"):
        observation_to_chunk(obs)


def test_a_waveform_chunk_in_the_wrong_unit_is_refused() -> None:
    chunk = dataclasses.replace(ex.pulse_chunks()["abp"], unit="kPa")
    with pytest.raises(FhirMappingError, match=r"abp samples must be in mm\[Hg\]"):
        chunk_to_observation(chunk)


# -- derived, findings, patient, devices ----------------------------------------------------


def test_derived_heart_rate_links_its_ecg_and_claims_heartrate() -> None:
    obs = derived_observation("heart_rate", 74.0, "/min", "p1", AT, ["Observation/ecg-7", "ecg-8"])
    Observation.model_validate(obs)
    assert obs["derivedFrom"] == [
        {"reference": "Observation/ecg-7"},
        {"reference": "Observation/ecg-8"},
    ]
    assert obs["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/heartrate"]
    assert (LOINC, "8867-4") in codings(obs) and obs["valueQuantity"]["code"] == "/min"


def test_news2_carries_total_and_sub_scores() -> None:
    obs = derived_observation("news2", 5.0, "{score}", "p1", AT, ["r-1"],
                              components={"resp_rate": 3, "spo2": 2})  # fmt: skip
    Observation.model_validate(obs)
    assert obs["valueQuantity"]["value"] == 5.0
    assert ("http://snomed.info/sct", "1104051000000101") in codings(obs)
    assert [c["valueQuantity"]["value"] for c in obs["component"]] == [3, 2]


def test_af_episode_is_a_coded_period_with_its_rate() -> None:
    ongoing = derived_observation("af_episode", 118.0, "/min", "p1", AT, ["ecg-7"])
    ended = derived_observation(
        "af_episode", 118.0, "/min", "p1", AT, ["ecg-7"], end=AT + timedelta(minutes=3)
    )
    for obs in (ongoing, ended):
        Observation.model_validate(obs)
        assert obs["valueCodeableConcept"]["coding"][0]["code"] == "49436004"
    assert ongoing["status"] == "preliminary" and ended["status"] == "final"
    assert ended["effectivePeriod"]["end"] == "2025-03-01T08:33:00Z"


def test_derived_observation_refuses_unknown_kinds_and_units() -> None:
    with pytest.raises(FhirMappingError, match="unknown derived kind"):
        derived_observation("qtc", 1.0, "ms", "p1", AT, [])
    with pytest.raises(FhirMappingError, match="must be in '/min'"):
        derived_observation("heart_rate", 1.0, "bpm", "p1", AT, [])


def test_finding_shows_method_values_and_severity() -> None:
    obs = finding_to_fhir(ex.af_finding(), derived_from=["Observation/ecg-7"])
    Observation.model_validate(obs)
    assert obs["method"]["text"] == "RR irregularity (example method name)"
    values = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert values["hr_bpm"]["valueQuantity"] == {
        "value": 118.4, "unit": "beats/minute", "system": "http://unitsofmeasure.org", "code": "/min"
    }  # fmt: skip
    assert values["n_beats"]["valueInteger"] == 355
    assert values["window_s"]["valueQuantity"]["code"] == "s"
    severity = {c["code"] for c in obs["interpretation"][0]["coding"]}
    assert severity == {"A", "medium"}
    assert obs["status"] == "final" and obs["note"][0]["text"].startswith("Irregularly")


def test_ongoing_finding_is_preliminary_with_open_period_and_odd_values() -> None:
    finding = replace(ex.af_finding(), end=None, values={"asystole": True, "hr_bpm": float("nan"),
                                                         "measurement_kind": "bp", "x": [1, 2]})  # fmt: skip
    obs = finding_to_fhir(finding)
    Observation.model_validate(obs)
    assert obs["status"] == "preliminary" and "end" not in obs["effectivePeriod"]
    values = {c["code"]["coding"][0]["code"]: c for c in obs["component"]}
    assert values["asystole"]["valueBoolean"] is True
    assert "dataAbsentReason" in values["hr_bpm"]
    assert values["x"]["valueString"] == "[1, 2]"


def test_patient_and_devices_validate() -> None:
    patient = patient_to_fhir(ex.SamplePatient())
    Patient.model_validate(patient)
    assert patient["identifier"][0]["value"] == "patient-042"
    assert patient["managingOrganization"]["identifier"]["value"] == "tmp-village-3"
    device = device_to_fhir("dev-nonin-3230", "home-gw-17", "patient-042", kinds=["spo2"],
                            bt_address="00:1c:05:ff:e8:74")  # fmt: skip
    Device.model_validate(device)
    idents = {
        i.get("type", {}).get("coding", [{}])[0].get("code"): i["value"]
        for i in device["identifier"]
    }
    assert idents == {
        None: "dev-nonin-3230",
        "SYSID": "00-00-00-00-00-00-00-00",
        "BTMAC": "00-1C-05-FF-E8-74",
    }
    assert device["specialization"][0]["systemType"]["coding"][0]["code"] == "528388"
    Device.model_validate(gateway_to_fhir("home-gw-17", patient_id="patient-042"))
    with pytest.raises(FhirMappingError, match="EUI-48"):
        device_to_fhir("d", "b", "p", bt_address="not-a-mac")


# -- checked-in examples ----------------------------------------------------------------------


def test_checked_in_examples_equal_what_the_mapping_produces() -> None:
    built = ex.build_examples()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in ex.EXAMPLES_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(built), "run: .venv/bin/python -m patient_hub.fhir.examples"
    for name, resource in built.items():
        assert on_disk[name] == ex.dump(resource), f"{name} is stale: regenerate the examples"
        json.loads(on_disk[name])


def test_there_is_an_example_for_every_kind() -> None:
    texts = " ".join(ex.build_examples())
    for kind in UNITS:
        assert kind in texts or (kind.startswith("bp_") and "bp-panel" in texts) or kind == "ecg"
    assert "ecg-lead-I" in texts


def test_an_unsaved_orm_row_without_flags_maps() -> None:
    orm = ReadingRow(bridge_id="b", seq=1, patient_id="p", device_id="d", kind="spo2",
                     value=95.0, unit="%", measured_at=AT)  # fmt: skip
    obs = reading_to_observation(orm)
    assert "id" not in obs and "tag" not in obs["meta"] and obs["status"] == "final"
