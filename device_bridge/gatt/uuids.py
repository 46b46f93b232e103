"""Characteristic identifiers: 16-bit SIG numbers and their 128-bit UUID spellings."""

from __future__ import annotations

from device_bridge.gatt.errors import UnsupportedCharacteristic

SIG_BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


def characteristic_id(characteristic: int | str) -> int:
    """The 16-bit SIG number of a characteristic given as an int (0x2A37) or a UUID string.

    Strings may be ``"2a37"``, ``"0x2A37"`` or the full ``"00002a37-0000-1000-8000-00805f9b34fb"``
    (any case). Raises UnsupportedCharacteristic for anything else, including vendor UUIDs.
    """
    if isinstance(characteristic, int) and not isinstance(characteristic, bool):
        if 0 <= characteristic <= 0xFFFF:
            return characteristic
        raise UnsupportedCharacteristic(f"{characteristic:#x} is not a 16-bit characteristic")
    if not isinstance(characteristic, str):
        raise UnsupportedCharacteristic(f"{characteristic!r} is not a characteristic id")
    text = characteristic.strip().lower().removeprefix("0x")
    if len(text) == 36 and text.startswith("0000") and text.endswith(SIG_BASE_UUID_SUFFIX):
        text = text[4:8]
    if len(text) == 4 and all(c in "0123456789abcdef" for c in text):
        return int(text, 16)
    raise UnsupportedCharacteristic(
        f"{characteristic!r} is neither a 16-bit SIG number nor a UUID on the SIG base"
    )


def sig_uuid(uuid16: int) -> str:
    """The full 128-bit UUID string (lower case) of a 16-bit SIG number."""
    return f"0000{uuid16:04x}{SIG_BASE_UUID_SUFFIX}"
