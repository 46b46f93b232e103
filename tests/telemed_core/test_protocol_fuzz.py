"""Fuzzing the wire-protocol decoder: any bytes or JSON parse to a frame or raise InvalidInput.

The hub's connection handler turns InvalidInput into an ``error`` frame and keeps the connection;
any other exception would drop the bridge's connection (tests/patient_hub/ingest covers the
handler over a real socket with mutated frames).
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from telemed_core.errors import InvalidInput
from telemed_core.protocol import parse_bridge_frame, parse_hub_frame

FUZZ = settings(max_examples=int(os.environ.get("TELEMED_FUZZ_EXAMPLES", "400")), deadline=None)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
READING = {
    "seq": 1,
    "patient_id": "p1",
    "device_id": "d1",
    "kind": "heart_rate",
    "value": 70.0,
    "unit": "/min",
    "measured_at": "2026-11-27T07:30:00Z",
}
CHUNK = {
    "seq": 2,
    "patient_id": "p1",
    "device_id": "d1",
    "kind": "ecg",
    "lead": "II",
    "fs_hz": 250.0,
    "start": "2026-11-27T07:30:00Z",
    "samples": [100, 200],
    "unit": "uV",
}
VALID: dict[str, dict[str, Any]] = {
    "hello": {"type": "hello", "v": 1, "bridge_id": "b1", "token": "t" * 20},
    "heartbeat": {"type": "heartbeat", "v": 1, "sent_at": "2026-11-27T07:30:00Z"},
    "batch": {"type": "batch", "v": 1, "batch_id": 1, "readings": [READING], "chunks": [CHUNK]},
}


def _parses_or_invalid(raw: str | bytes) -> None:
    try:
        parse_bridge_frame(raw)
    except InvalidInput as exc:
        assert str(exc.message).startswith("invalid frame")


def test_the_unmutated_frames_parse() -> None:
    for frame in VALID.values():
        parse_bridge_frame(json.dumps(frame))


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_parse_or_raise_invalid_input(raw: str | bytes) -> None:
    _parses_or_invalid(raw)


@FUZZ
@given(value=JSON_VALUES)
def test_arbitrary_json_parses_or_raises_invalid_input(value: object) -> None:
    _parses_or_invalid(json.dumps(value))


@FUZZ
@given(
    name=st.sampled_from(sorted(VALID)),
    path=st.lists(
        st.sampled_from(["readings", "chunks", 0, "value", "samples", "seq"]), max_size=3
    ),
    key=st.text(max_size=12) | st.sampled_from(sorted({*READING, *CHUNK, "batch_id", "token"})),
    value=JSON_VALUES,
)
def test_a_valid_frame_with_one_field_replaced_parses_or_raises_invalid_input(
    name: str, path: list[str | int], key: str, value: object
) -> None:
    frame = json.loads(json.dumps(VALID[name]))
    target: Any = frame
    for step in path:
        try:
            target = target[step]
        except (KeyError, IndexError, TypeError):
            break
    if isinstance(target, dict):
        target[key] = value
    _parses_or_invalid(json.dumps(frame))


@FUZZ
@given(raw=st.binary(max_size=200) | JSON_VALUES.map(json.dumps))
def test_hub_frames_parse_or_raise_invalid_input(raw: str | bytes) -> None:
    try:
        parse_hub_frame(raw)
    except InvalidInput:
        pass


def test_deeply_nested_json_raises_invalid_input() -> None:
    _parses_or_invalid("[" * 100_000 + "]" * 100_000)


def test_number_too_large_for_a_float_raises_invalid_input() -> None:
    frame = json.dumps(VALID["batch"]).replace("70.0", "1e400")
    _parses_or_invalid(frame)
