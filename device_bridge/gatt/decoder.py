"""``decode``: route a measurement characteristic's payload to its decoder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, tzinfo

from device_bridge.gatt import (
    blood_pressure,
    glucose,
    heart_rate,
    misc,
    pulse_oximeter,
    thermometer,
    weight,
)
from device_bridge.gatt.errors import UnsupportedCharacteristic
from device_bridge.gatt.measurement import Measurement
from device_bridge.gatt.reader import char_name
from device_bridge.gatt.uuids import characteristic_id

Decoder = Callable[[bytes, tzinfo], list[Measurement]]

_DECODERS: dict[int, Decoder] = {
    heart_rate.HEART_RATE_MEASUREMENT: heart_rate.decode_heart_rate_measurement,
    pulse_oximeter.PLX_SPOT_CHECK: pulse_oximeter.decode_spot_check,
    pulse_oximeter.PLX_CONTINUOUS: pulse_oximeter.decode_continuous,
    blood_pressure.BLOOD_PRESSURE_MEASUREMENT: blood_pressure.decode_blood_pressure,
    blood_pressure.INTERMEDIATE_CUFF_PRESSURE: blood_pressure.decode_intermediate_cuff_pressure,
    thermometer.TEMPERATURE_MEASUREMENT: thermometer.decode_temperature,
    thermometer.INTERMEDIATE_TEMPERATURE: thermometer.decode_intermediate_temperature,
    weight.WEIGHT_MEASUREMENT: weight.decode_weight,
    glucose.GLUCOSE_MEASUREMENT: glucose.decode_glucose,
    misc.BATTERY_LEVEL: misc.decode_battery_level,
}

#: Characteristics :func:`decode` accepts: those whose values are readings.
MEASUREMENT_CHARACTERISTICS: frozenset[int] = frozenset(_DECODERS)

# Characteristics the package understands that are not readings, and where to decode them.
_ELSEWHERE: dict[int, str] = {
    heart_rate.BODY_SENSOR_LOCATION: "decode_body_sensor_location",
    pulse_oximeter.PLX_FEATURES: "decode_plx_features",
    blood_pressure.BLOOD_PRESSURE_FEATURE: "decode_blood_pressure_feature",
    thermometer.TEMPERATURE_TYPE: "decode_temperature_type",
    weight.WEIGHT_SCALE_FEATURE: "decode_weight_scale_feature",
    glucose.GLUCOSE_CONTEXT: "decode_glucose_context",
    0x2A52: "decode_racp_response",
    0x2A08: "decode_date_time",
    0x2A2B: "decode_current_time",
    **{uuid16: "decode_device_info" for uuid16 in misc.DEVICE_INFO_CHARACTERISTICS},
}


def is_measurement(characteristic: int | str) -> bool:
    """Whether :func:`decode` handles ``characteristic`` (int or UUID string)."""
    return characteristic_id(characteristic) in MEASUREMENT_CHARACTERISTICS


def decode(
    characteristic: int | str, payload: bytes | bytearray, *, device_tz: tzinfo = UTC
) -> list[Measurement]:
    """Decode a measurement characteristic's notification or indication payload.

    ``characteristic`` is the 16-bit number (0x2A37) or a UUID string ("2a37" or the full
    128-bit form). Values come back in the kernel's units (``telemed_core.kinds.UNITS``);
    device time stamps, which have no zone on the wire, are read as ``device_tz`` wall-clock
    time and returned in UTC.

    Raises MalformedPayload when the bytes do not follow the layout, and
    UnsupportedCharacteristic for a characteristic that is not a measurement here (the message
    names the function to use for the known non-measurement ones, e.g. 0x2A34).
    """
    uuid16 = characteristic_id(characteristic)
    decoder = _DECODERS.get(uuid16)
    if decoder is not None:
        return decoder(bytes(payload), device_tz)
    if uuid16 in _ELSEWHERE:
        raise UnsupportedCharacteristic(
            f"{char_name(uuid16)} is not a measurement; use {_ELSEWHERE[uuid16]}()"
        )
    raise UnsupportedCharacteristic(f"{char_name(uuid16)} is not a supported characteristic")
