"""Wire protocol v1: what parses, what is refused and why."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from telemed_core.errors import InvalidInput
from telemed_core.kinds import UNITS, Kind, unit_of
from telemed_core.protocol import (
    MAX_BATCH_ITEMS,
    Ack,
    Batch,
    Hello,
    dump,
    parse_bridge_frame,
    parse_hub_frame,
)
from telemed_core.values import SampleChunk


def reading(seq: int, **over: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "patient_id": "p1",
        "device_id": "d1",
        "kind": "body_weight",
        "value": 81.4,
        "unit": "kg",
        "measured_at": "2026-11-27T07:30:00+02:00",
        **over,
    }


def batch(*items: dict[str, Any]) -> str:
    return json.dumps({"type": "batch", "v": 1, "batch_id": 1, "readings": list(items)})


def test_every_kind_has_its_ucum_unit() -> None:
    assert {k.value: u for k, u in UNITS.items()} == {
        "heart_rate": "/min",
        "rr_interval": "ms",
        "spo2": "%",
        "pulse_rate": "/min",
        "bp_systolic": "mm[Hg]",
        "bp_diastolic": "mm[Hg]",
        "bp_mean": "mm[Hg]",
        "cuff_pressure": "mm[Hg]",
        "body_temperature": "Cel",
        "body_weight": "kg",
        "glucose": "mmol/L",
        "respiratory_rate": "/min",
        "battery_level": "%",
        "ecg": "uV",
        "pleth": "1",
        "abp": "mm[Hg]",
    }
    assert unit_of("spo2") == "%"
    with pytest.raises(ValueError):
        unit_of("mood")


def test_a_batch_parses_and_times_become_utc() -> None:
    frame = parse_bridge_frame(batch(reading(1)))
    assert isinstance(frame, Batch)
    r = frame.readings[0]
    assert r.kind is Kind.BODY_WEIGHT and r.value == 81.4
    assert r.measured_at.isoformat() == "2026-11-27T05:30:00+00:00"


def test_frames_round_trip_through_json() -> None:
    hello = Hello(bridge_id="b-1", token="t" * 32)
    assert parse_bridge_frame(dump(hello)) == hello
    ack = Ack(batch_id=3, up_to_seq=10, stored=9, duplicates=1)
    assert parse_hub_frame(dump(ack)) == ack


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        ("{", "Invalid JSON"),
        (json.dumps({"type": "batch", "v": 2, "batch_id": 1, "readings": [reading(1)]}), "v"),
        (json.dumps({"type": "launch", "v": 1}), "type"),
        (batch(reading(1, unit="lb")), "unit of body_weight must be 'kg'"),
        (batch(reading(1, kind="mood")), "kind"),
        (batch(reading(1, measured_at="2026-11-27T07:30:00")), "timezone-aware"),
        (batch(reading(0)), "seq"),
        (batch(reading(1), reading(1)), "unique"),
        (batch(reading(1, value=None)), "invalid"),
        (batch(reading(1, flags=["made-up"])), "unknown flags"),
        (batch(reading(1, extra_field=1)), "extra"),
        (batch(), "at least one"),
        (batch(reading(1, kind="ecg", unit="uV")), "waveform"),
        (json.dumps({"type": "hello", "v": 1, "bridge_id": "b 1", "token": "t" * 32}), "bridge_id"),
        (json.dumps({"type": "hello", "v": 1, "bridge_id": "b1", "token": "short"}), "token"),
    ],
)
def test_bad_frames_are_refused_with_a_reason(frame: str, complaint: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_bridge_frame(frame)
    assert complaint in err.value.message


def test_nan_and_infinite_values_are_refused() -> None:
    for raw in ('"NaN"', "Infinity", "1e999"):
        text = batch(reading(1)).replace("81.4", raw)
        with pytest.raises(InvalidInput):
            parse_bridge_frame(text)


def test_invalid_readings_without_value_are_accepted_when_flagged() -> None:
    frame = parse_bridge_frame(batch(reading(1, value=None, flags=["invalid"])))
    assert isinstance(frame, Batch) and frame.readings[0].value is None


def test_batch_size_is_bounded() -> None:
    with pytest.raises(InvalidInput, match="at most"):
        parse_bridge_frame(batch(*[reading(i) for i in range(1, MAX_BATCH_ITEMS + 2)]))


def chunk(**over: Any) -> dict[str, Any]:
    return {
        "seq": 1,
        "patient_id": "p1",
        "device_id": "bedside-1",
        "fs_hz": 125.0,
        "start": "2026-11-27T07:30:00+00:00",
        "samples": [1, 2, 3],
        **over,
    }


def test_pulse_waveform_chunks_name_their_channel_and_resolution() -> None:
    pleth = SampleChunk.model_validate(chunk(kind="pleth", unit="1"))
    abp = SampleChunk.model_validate(chunk(kind="abp", unit="mm[Hg]", factor=0.01))
    ecg = SampleChunk.model_validate(chunk(unit="uV"))
    assert (pleth.lead, pleth.factor) == ("PLETH", 1.0)
    assert (abp.lead, abp.factor) == ("ABP", 0.01)
    assert (ecg.kind, ecg.lead) == ("ecg", "I")


@pytest.mark.parametrize(
    ("over", "complaint"),
    [
        ({"kind": "abp", "unit": "uV"}, "unit of abp must be 'mm[Hg]'"),
        ({"kind": "pleth", "unit": "1", "factor": 0}, "greater than 0"),
        ({"kind": "pleth", "unit": "1", "factor": float("nan")}, "finite number"),
        ({"kind": "spo2", "unit": "%"}, "not a waveform kind"),
        ({"samples": [2**31]}, "less than 2147483648"),
        ({"kind": "abp", "unit": "mm[Hg]", "lead": "II"}, "the channel of abp chunks is 'ABP'"),
        ({"lead": "PLETH"}, "'PLETH' is not an ECG lead"),
        ({"flags": ["strip"]}, "an ECG strip lasts 9-120 s, this one 0.0 s"),
        ({"kind": "pleth", "unit": "1", "flags": ["strip"]}, "only an ECG recording"),
        ({"samples": []}, "at least 1 item"),
    ],
)
def test_bad_waveform_chunks_are_refused_clearly(over: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(complaint)):
        SampleChunk.model_validate(chunk(**over))


def test_an_ecg_strip_is_one_whole_recording() -> None:
    strip = SampleChunk.model_validate(chunk(unit="uV", fs_hz=300.0, samples=[0] * 9000,
                                             flags=["strip"]))  # fmt: skip
    assert strip.flags == ["strip"]
