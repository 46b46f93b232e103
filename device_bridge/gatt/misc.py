"""Battery Service (0x180F) and Device Information Service (0x180A).

Battery Level is a reading (``Kind.BATTERY_LEVEL``); the Device Information strings are the
device's identity, not vitals, so they have their own decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, tzinfo

from device_bridge.gatt.errors import UnsupportedCharacteristic
from device_bridge.gatt.measurement import Measurement
from device_bridge.gatt.reader import Reader, char_name
from device_bridge.gatt.uuids import characteristic_id
from telemed_core.kinds import Kind

BATTERY_LEVEL = 0x2A19
SYSTEM_ID = 0x2A23
MODEL_NUMBER = 0x2A24
SERIAL_NUMBER = 0x2A25
FIRMWARE_REVISION = 0x2A26
HARDWARE_REVISION = 0x2A27
SOFTWARE_REVISION = 0x2A28
MANUFACTURER_NAME = 0x2A29
PNP_ID = 0x2A50

#: Device Information string characteristics and the field name each fills.
DEVICE_INFO_STRINGS: dict[int, str] = {
    MANUFACTURER_NAME: "manufacturer_name",
    MODEL_NUMBER: "model_number",
    SERIAL_NUMBER: "serial_number",
    FIRMWARE_REVISION: "firmware_revision",
    HARDWARE_REVISION: "hardware_revision",
    SOFTWARE_REVISION: "software_revision",
}
DEVICE_INFO_CHARACTERISTICS = frozenset({*DEVICE_INFO_STRINGS, SYSTEM_ID, PNP_ID})
_MAX_PERCENT = 100


def decode_battery_level(payload: bytes | bytearray, device_tz: tzinfo = UTC) -> list[Measurement]:
    """Decode 0x2A19 (u8, 0-100) into one BATTERY_LEVEL in %; values above 100 are malformed."""
    reader = Reader(BATTERY_LEVEL, payload)
    reader.expect(1)
    level = reader.u8("battery level")
    if level > _MAX_PERCENT:
        raise reader.fail(f"battery level {level} is above 100 %")
    return [Measurement.of(Kind.BATTERY_LEVEL, float(level))]


@dataclass(frozen=True, slots=True)
class DeviceInfoField:
    """One Device Information value: ``name`` is e.g. "serial_number", ``value`` its text."""

    name: str
    value: str


def _text(payload: bytes | bytearray) -> str:
    # UTF-8 per the spec; cheap devices send Latin-1 or padding, so decode leniently (the
    # replacement is deterministic, which is what an identity needs) and drop trailing NULs.
    return payload.decode("utf-8", errors="replace").rstrip("\x00")


def decode_device_info(characteristic: int | str, payload: bytes | bytearray) -> DeviceInfoField:
    """Decode a Device Information characteristic (0x2A23-0x2A29, 0x2A50) to a named string.

    System ID (0x2A23, 8 bytes) reads as ``"<OUI 6 hex>-<manufacturer id 10 hex>"``; PnP ID
    (0x2A50, 7 bytes) as ``"<source>:<vendor 4 hex>:<product 4 hex>:<version 4 hex>"`` with
    source "bluetooth" or "usb". Raises UnsupportedCharacteristic for anything else.
    """
    uuid16 = characteristic_id(characteristic)
    if uuid16 in DEVICE_INFO_STRINGS:
        return DeviceInfoField(DEVICE_INFO_STRINGS[uuid16], _text(payload))
    if uuid16 == SYSTEM_ID:
        return DeviceInfoField("system_id", _system_id(payload))
    if uuid16 == PNP_ID:
        return DeviceInfoField("pnp_id", _pnp_id(payload))
    raise UnsupportedCharacteristic(f"{char_name(uuid16)} is not a Device Information field")


def _system_id(payload: bytes | bytearray) -> str:
    reader = Reader(SYSTEM_ID, payload)
    reader.expect(8)
    manufacturer, oui = reader.uint(5, "manufacturer identifier"), reader.uint(3, "OUI")
    return f"{oui:06X}-{manufacturer:010X}"


_PNP_SOURCES = {1: "bluetooth", 2: "usb"}


def _pnp_id(payload: bytes | bytearray) -> str:
    reader = Reader(PNP_ID, payload)
    reader.expect(7)
    source = reader.u8("vendor id source")
    vendor, product, version = (reader.u16(what) for what in ("vendor", "product", "version"))
    label = _PNP_SOURCES.get(source, f"source{source}")
    return f"{label}:{vendor:04X}:{product:04X}:{version:04X}"
