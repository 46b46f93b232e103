"""The fast path of a readings batch (``patient_hub/ingest/wire.py``) against the protocol's models.

The invariant: whatever the fast path accepts, ``parse_bridge_frame`` accepts too, and the fast
path's wire dicts and SQLite rows equal what ingest made from the models (the bus payload, the
stored row); whatever the models refuse, the fast path leaves to them (None), so every refusal
keeps the protocol's own message.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from patient_hub.ingest.sqlite_store import reading_rows
from patient_hub.ingest.wire import decode_readings_batch
from telemed_core.errors import InvalidInput
from telemed_core.protocol import Batch, parse_bridge_frame
from telemed_core.values import Reading

FUZZ = settings(max_examples=int(os.environ.get("TELEMED_FUZZ_EXAMPLES", "300")), deadline=None)
_dump: TypeAdapter[list[Reading]] = TypeAdapter(list[Reading])


def reading(n: int = 1, **over: Any) -> dict[str, Any]:
    r = {
        "seq": n,
        "patient_id": "p1",
        "device_id": "cuff-1",
        "kind": "bp_systolic",
        "value": 128.0,
        "unit": "mm[Hg]",
        "measured_at": "2026-11-27T07:30:00.250000Z",
        "received_at": "2026-11-27T07:30:01Z",
        "flags": [],
        **over,
    }
    return {k: v for k, v in r.items() if v is not _DROP}


_DROP = object()


def frame(*readings: dict[str, Any], **over: Any) -> str:
    return json.dumps({"type": "batch", "v": 1, "batch_id": 3, "readings": list(readings), **over})


def same_as_models(text: str) -> bool:
    """Check the invariant on one frame; True when the fast path took it."""
    fast = decode_readings_batch(text)
    try:
        parsed = parse_bridge_frame(text)
    except InvalidInput:
        assert fast is None, "the fast path accepted a frame the protocol refuses"
        return False
    if fast is None:
        return False
    assert isinstance(parsed, Batch)
    assert (fast.batch_id, fast.max_seq) == (parsed.batch_id, parsed.max_seq)
    assert fast.items == _dump.dump_python(parsed.readings, mode="json")
    assert fast.patient_ids == {r.patient_id for r in parsed.readings}
    for test in (set(), {"p1"}):
        assert fast.sqlite_rows("b1", "now", test) == reading_rows(
            "b1", parsed.readings, "now", test
        )
    return True


def test_a_batch_as_bridges_send_it_takes_the_fast_path() -> None:
    text = frame(
        reading(1),
        reading(2, kind="spo2", value=97, unit="%", flags=["simulated"]),
        reading(3, value=None, flags=["invalid"], device_time="2019-01-01T00:00:00Z"),
        reading(4, measured_at="2026-11-27T07:30:00.000000Z", received_at=_DROP, flags=_DROP),
        reading(
            5,
            measured_at="2026-11-27T07:30:02.500000+00:00",
            received_at="2026-11-27T07:30:03+00:00",
        ),
    )
    assert same_as_models(text)
    fast = decode_readings_batch(text)
    assert fast is not None
    # A whole second is written without its fraction, as pydantic writes it.
    assert fast.items[3]["measured_at"] == "2026-11-27T07:30:00Z"
    assert fast.sql[3][6] == "2026-11-27 07:30:00.000000"
    assert fast.items[1]["value"] == 97.0 and isinstance(fast.items[1]["value"], float)
    # Python's isoformat of a UTC time: the same instant, written as the models write it.
    assert fast.items[4]["measured_at"] == "2026-11-27T07:30:02.500000Z"
    assert fast.items[4]["received_at"] == "2026-11-27T07:30:03Z"


@pytest.mark.parametrize(
    "over",
    [
        {"measured_at": "2026-11-27T09:30:00+02:00"},  # an offset: the models convert it
        {"measured_at": "2026-11-27T07:30:00.1234567Z"},  # a 7th digit: the models truncate it
        {"measured_at": "2026-11-27T07:30:00.5Z"},
        {"measured_at": "2026-11-27 07:30:00Z"},
        {"measured_at": "2026-11-27t07:30:00z"},
        {"measured_at": "2026-11-27T07:30Z"},
        {"measured_at": "2026-11-27T07:30:00-00:00"},
        {"measured_at": "2026-11-27T07:30:00.5+00:00"},
        {"seq": 1.0},  # lax: the models take a whole float as an int
        {"value": True},
        {"value": 128},  # an int value: the models make it a float
    ],
)
def test_forms_the_models_accept_are_left_to_them_or_equal(over: dict[str, Any]) -> None:
    text = frame(reading(1, **over))
    parse_bridge_frame(text)  # accepted by the protocol
    same_as_models(text)


@pytest.mark.parametrize(
    "over",
    [
        {"measured_at": "2026-11-27T07:30:00"},  # naive
        {"measured_at": "2026-02-30T07:30:00Z"},
        {"measured_at": "2026-11-27T24:00:00Z"},
        {"measured_at": "2026-11-27T23:59:60Z"},
        {"measured_at": "2026-11-27T07:30:00.12345xZ"},
        {"measured_at": "2026-11-27T07:30:00+00:00Z"},
        {"measured_at": "2026-11-27T07:30:00Z+00:00"},
        {"measured_at": "2026-11-27T24:00:00+00:00"},
        {"measured_at": "２０２６-11-27T07:30:00Z"},  # full-width digits
        {"received_at": "yesterday"},
        {"value": 1e400},
        {"seq": 0},
        {"patient_id": "p 1"},
        {"patient_id": "p1\n"},
        {"patient_id": ""},
        {"device_id": "d" * 65},
        {"kind": "ecg", "unit": "uV"},
        {"kind": "height", "unit": "cm"},
        {"unit": "kPa"},
        {"value": None},
        {"flags": ["loud"]},
        {"colour": "red"},
        {"seq": _DROP},
        {"measured_at": _DROP},
        {"value": _DROP},
    ],
)
def test_what_the_models_refuse_the_fast_path_leaves_to_them(over: dict[str, Any]) -> None:
    text = frame(reading(1, **over))
    with pytest.raises(InvalidInput):
        parse_bridge_frame(text)
    assert decode_readings_batch(text) is None


@pytest.mark.parametrize(
    "text",
    [
        frame(reading(1), reading(1)),  # a number twice
        frame(),  # no item
        frame(*(reading(s) for s in range(1, 5_002))),  # over MAX_BATCH_ITEMS
        frame(reading(1), v=2),
        frame(reading(1), batch_id=-1),
        frame(reading(1), extra=1),
        frame(reading(1), type="heartbeat"),
        "{not json",
        b"\xff\xfe",
    ],
)
def test_bad_frames_are_left_to_the_models(text: str | bytes) -> None:
    with pytest.raises(InvalidInput):
        parse_bridge_frame(text)
    assert decode_readings_batch(text) is None


def test_other_frames_and_items_are_left_to_the_models() -> None:
    chunk = {"seq": 2, "patient_id": "p1", "device_id": "d1", "fs_hz": 130, "start": "2026-11-27T07:30:00Z", "samples": [1]}  # fmt: skip
    for text in (
        frame(reading(1), chunks=[chunk]),
        json.dumps({"type": "heartbeat", "v": 1, "sent_at": "2026-11-27T07:30:00Z"}),
        json.dumps({"type": "hello", "v": 1, "bridge_id": "b1", "token": "t" * 20}),
    ):
        parse_bridge_frame(text)
        assert decode_readings_batch(text) is None


def test_a_kiosk_mapping_replaces_patient_ids_in_items_and_rows() -> None:
    fast = decode_readings_batch(frame(reading(1, patient_id="kp-1"), reading(2)))
    assert fast is not None
    mapped = fast.with_patients({"kp-1": "p9"})
    assert [i["patient_id"] for i in mapped.items] == ["p9", "p1"]
    assert [s[1] for s in mapped.sql] == ["p9", "p1"]
    assert mapped.patient_ids == {"p9", "p1"}
    assert fast.items[0]["patient_id"] == "kp-1"  # the decoded batch is unchanged
    assert fast.with_patients({"other": "p3"}) is fast


TIMESTAMPS = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")),
    st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,8})?(Z|[+-]\d\d:\d\d)?\Z"),
    st.text(max_size=30),
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "seq": st.integers(min_value=-2, max_value=2**64) | st.floats() | st.text(max_size=3),
        "patient_id": st.sampled_from(["p1", "kp-2", "a.b:c_d", "", "p 1", "é"])
        | st.text(max_size=70),
        "kind": st.sampled_from(["heart_rate", "spo2", "bp_systolic", "ecg", "pleth", "x"]),
        "unit": st.sampled_from(["/min", "%", "mm[Hg]", "uV", ""]),
        "value": st.none() | st.floats(allow_nan=False) | st.integers() | st.booleans(),
        "measured_at": TIMESTAMPS,
        "device_time": st.none() | TIMESTAMPS,
        "received_at": st.none() | TIMESTAMPS,
        "flags": st.lists(st.sampled_from(["invalid", "simulated", "manual", "bogus"]), max_size=3),
    },
)


@FUZZ
@given(st.lists(FIELDS, min_size=1, max_size=4), st.booleans())
def test_the_fast_path_agrees_with_the_models_on_any_batch(
    changes: list[dict[str, Any]], kind_unit_pairs: bool
) -> None:
    readings = []
    for i, over in enumerate(changes, start=1):
        r = reading(i, **over)
        if kind_unit_pairs and "kind" in over:
            units = {"heart_rate": "/min", "spo2": "%", "bp_systolic": "mm[Hg]"}
            r["unit"] = units.get(over["kind"], r["unit"])
        readings.append(r)
    try:
        text = frame(*readings)
    except ValueError:  # json cannot write it (inf): not a frame
        return
    same_as_models(text)
