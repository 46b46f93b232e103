"""Random bytes never crash a decoder: they decode, or raise MalformedPayload.

The bridge quarantines MalformedPayload with the raw bytes; any other exception would take the
bridge down, and a Measurement in a wrong unit would be charted wrongly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, timedelta, timezone, tzinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_bridge import polar
from device_bridge.gatt import (
    MEASUREMENT_CHARACTERISTICS,
    MalformedPayload,
    decode,
    decode_blood_pressure_feature,
    decode_body_sensor_location,
    decode_current_time,
    decode_date_time,
    decode_device_info,
    decode_glucose_context,
    decode_plx_features,
    decode_racp_request,
    decode_racp_response,
    decode_temperature_type,
    decode_weight_scale_feature,
)
from telemed_core.kinds import UNITS
from telemed_core.values import FLAGS

# Short random payloads exercise the length checks; a random flags byte in front of a long body
# gets past them and reaches the field validation (dates, RR pairs, enumerations).
PAYLOADS = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda flags, body: bytes([flags]) + body,
        st.integers(0, 0xFF),
        st.binary(min_size=20, max_size=40),
    ),
)
# the extreme zones push device dates past datetime's range at the edges of the SIG years
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=-14)), timezone(timedelta(hours=14))])
FUZZ = settings(max_examples=int(os.environ.get("TELEMED_FUZZ_EXAMPLES", "300")), deadline=None)

OTHER_DECODERS: dict[str, Callable[[bytes], object]] = {
    "body_sensor_location": decode_body_sensor_location,
    "plx_features": decode_plx_features,
    "bp_feature": decode_blood_pressure_feature,
    "temperature_type": decode_temperature_type,
    "weight_scale_feature": decode_weight_scale_feature,
    "glucose_context": decode_glucose_context,
    "racp_response": decode_racp_response,
    "racp_request": decode_racp_request,
    "date_time": decode_date_time,
    "current_time": decode_current_time,
    "manufacturer_name": lambda payload: decode_device_info(0x2A29, payload),
    "system_id": lambda payload: decode_device_info(0x2A23, payload),
    "pnp_id": lambda payload: decode_device_info(0x2A50, payload),
    "pmd_response": polar.decode_control_point_response,
    "pmd_features": polar.decode_features,
    "pmd_settings": polar.decode_settings,
    "pmd_ecg_frame": polar.decode_ecg_frame,
}


@pytest.mark.parametrize("characteristic", sorted(MEASUREMENT_CHARACTERISTICS), ids=hex)
@FUZZ
@given(payload=PAYLOADS, zone=ZONES)
def test_measurement_decoder_only_raises_malformed_and_keeps_kernel_units(
    characteristic: int, payload: bytes, zone: tzinfo
) -> None:
    try:
        found = decode(characteristic, payload, device_tz=zone)
    except MalformedPayload as exc:
        assert str(exc).startswith(f"0x{characteristic:04X}: ")
        return
    for measurement in found:
        assert measurement.unit == UNITS[measurement.kind]
        assert set(measurement.flags) <= FLAGS
        assert measurement.value is not None or "invalid" in measurement.flags


@settings(max_examples=600, deadline=None)
@given(payload=PAYLOADS)
def test_other_decoders_only_raise_malformed(payload: bytes) -> None:
    # one payload through every decoder: the per-example cost is Hypothesis's, not the decoders'
    for decode_other in OTHER_DECODERS.values():
        try:
            decode_other(payload)
        except MalformedPayload:
            pass
