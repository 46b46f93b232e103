"""Bluetooth SIG GATT health-service codecs: pure functions, no bleak, no I/O.

Readings: :func:`decode` turns the payload of a measurement characteristic (heart rate 0x2A37,
PLX 0x2A5E/0x2A5F, blood pressure 0x2A35/0x2A36, thermometer 0x2A1C/0x2A1E, weight 0x2A9D,
glucose 0x2A18, battery 0x2A19) into :class:`Measurement` objects in the kernel's units.

Everything else a device exposes has its own decoder, because it is not a reading: body sensor
location, PLX/BP/weight-scale features, temperature type, glucose context, RACP responses,
Device Information, Date Time and Current Time.

Errors: :class:`MalformedPayload` for bytes that break the layout (quarantine them with the raw
payload); :class:`UnsupportedCharacteristic` for a characteristic the called function does not
handle. Both are ValueError.

Encoders for every measurement live in :mod:`device_bridge.gatt.encode`.
"""

from __future__ import annotations

from device_bridge.gatt.blood_pressure import decode_blood_pressure_feature
from device_bridge.gatt.decoder import MEASUREMENT_CHARACTERISTICS, decode, is_measurement
from device_bridge.gatt.errors import MalformedPayload, UnsupportedCharacteristic
from device_bridge.gatt.glucose import GlucoseContext, decode_glucose_context
from device_bridge.gatt.heart_rate import decode_body_sensor_location
from device_bridge.gatt.measurement import ExtraValue, Measurement
from device_bridge.gatt.misc import DeviceInfoField, decode_device_info
from device_bridge.gatt.pulse_oximeter import PlxFeatures, decode_plx_features
from device_bridge.gatt.racp import (
    RacpOp,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
    decode_racp_request,
    decode_racp_response,
    encode_racp_abort,
    encode_racp_count_all,
    encode_racp_count_from,
    encode_racp_report_all,
    encode_racp_report_from,
    encode_racp_report_range,
    encode_racp_sync_request,
)
from device_bridge.gatt.sfloat import (
    Number,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)
from device_bridge.gatt.thermometer import decode_temperature_type
from device_bridge.gatt.times import CurrentTime, decode_current_time, decode_date_time
from device_bridge.gatt.uuids import characteristic_id, sig_uuid
from device_bridge.gatt.weight import WeightScaleFeatures, decode_weight_scale_feature

__all__ = [
    "MEASUREMENT_CHARACTERISTICS",
    "CurrentTime",
    "DeviceInfoField",
    "ExtraValue",
    "GlucoseContext",
    "MalformedPayload",
    "Measurement",
    "Number",
    "PlxFeatures",
    "RacpOp",
    "RacpOperator",
    "RacpRequest",
    "RacpResponse",
    "RacpResponseCode",
    "Special",
    "UnsupportedCharacteristic",
    "WeightScaleFeatures",
    "characteristic_id",
    "decode",
    "decode_blood_pressure_feature",
    "decode_body_sensor_location",
    "decode_current_time",
    "decode_date_time",
    "decode_device_info",
    "decode_float",
    "decode_glucose_context",
    "decode_plx_features",
    "decode_racp_request",
    "decode_racp_response",
    "decode_sfloat",
    "decode_temperature_type",
    "decode_weight_scale_feature",
    "encode_float",
    "encode_racp_abort",
    "encode_racp_count_all",
    "encode_racp_count_from",
    "encode_racp_report_all",
    "encode_racp_report_from",
    "encode_racp_report_range",
    "encode_racp_sync_request",
    "encode_sfloat",
    "is_measurement",
    "sig_uuid",
]
