"""Polar Measurement Data (PMD) service of the Polar H10: ECG commands, responses and frames.

Pure codecs plus the clock anchoring; the bleak side lives elsewhere. Protocol (polar-ble-sdk,
bleakheart): write commands to the control point, which answers by indication; ECG frames come
as notifications on the data characteristic::

    command   op u8 | measurement type u8 | settings: (type u8, count u8, count x value)...
    response  F0 | op | measurement type | status | more frames | params...
    ECG frame 00 | u64 ns timestamp of the LAST sample (epoch 2000-01-01 UTC) | frame type 00 |
              N x s24 samples in uV, 130 Hz

The strap's clock resets (to 2019) when it is switched off unless someone sets it, so sample
times are anchored to the gateway clock with :class:`EcgClock` and the sensor time is kept only
as a raw value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from device_bridge.gatt.errors import MalformedPayload

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

ECG_SAMPLE_RATE_HZ = 130
ECG_RESOLUTION_BITS = 14
POLAR_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
NS_PER_S = 1_000_000_000

RESPONSE_MARKER = 0xF0
FEATURES_MARKER = 0x0F
ECG_HEADER_SIZE = 10  # type u8 + timestamp u64 + frame type u8
ECG_SAMPLE_SIZE = 3
COMPRESSED_FRAME = 0x80


class PmdOp(IntEnum):
    """Control-point op codes."""

    GET_SETTINGS = 1
    START = 2
    STOP = 3


class PmdMeasurement(IntEnum):
    """PMD measurement types."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SDK_MODE = 9


class PmdSetting(IntEnum):
    """Setting types used in commands and get-settings responses."""

    SAMPLE_RATE = 0  # Hz
    RESOLUTION = 1  # bits
    RANGE = 2  # g
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5  # a float32 conversion factor, kept as its raw u32 here


# Bytes per value of each setting type; CHANNELS is a u8, RANGE_MILLIUNIT and FACTOR are 32-bit
# (sizes as in polar-ble-sdk's PmdSetting).
_SETTING_SIZES = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}

PMD_STATUS: dict[int, str] = {
    0: "success",
    1: "invalid_op_code",
    2: "invalid_measurement_type",
    3: "not_supported",
    4: "invalid_length",
    5: "invalid_parameter",
    6: "already_in_state",
    7: "invalid_resolution",
    8: "invalid_sample_rate",
    9: "invalid_range",
    10: "invalid_mtu",
    11: "invalid_number_of_channels",
    12: "invalid_state",
    13: "device_in_charger",
}

# Keys are PmdSetting members or their plain int codes.
Settings = Mapping[PmdSetting, Sequence[int]] | Mapping[int, Sequence[int]]


def encode_settings(settings: Settings) -> bytes:
    """Setting TLVs: ``type | count | values`` per setting, values little-endian."""
    out = b""
    for kind, values in settings.items():
        size = _SETTING_SIZES.get(kind)
        if size is None:
            raise ValueError(f"unknown PMD setting type {kind}")
        out += bytes([kind, len(values)])
        out += b"".join(value.to_bytes(size, "little") for value in values)
    return out


def decode_settings(params: bytes | bytearray) -> dict[int, tuple[int, ...]]:
    """Parse setting TLVs (e.g. the params of a get-settings response) to {type: values}."""
    settings: dict[int, tuple[int, ...]] = {}
    offset = 0
    while offset < len(params):
        if offset + 2 > len(params):
            raise MalformedPayload(f"PMD settings: truncated header at byte {offset}")
        kind, count = params[offset], params[offset + 1]
        size = _SETTING_SIZES.get(kind)
        if size is None:
            raise MalformedPayload(f"PMD settings: unknown setting type 0x{kind:02X}")
        start, offset = offset + 2, offset + 2 + count * size
        if offset > len(params):
            raise MalformedPayload(f"PMD settings: type {kind} needs {count * size} value bytes")
        chunk = params[start:offset]
        values = (chunk[i : i + size] for i in range(0, len(chunk), size))
        settings[kind] = tuple(int.from_bytes(value, "little") for value in values)
    return settings


def encode_start(measurement: PmdMeasurement, settings: Settings) -> bytes:
    """A start command for ``measurement`` with the given settings."""
    return bytes([PmdOp.START, measurement]) + encode_settings(settings)


def encode_start_ecg(
    sample_rate_hz: int = ECG_SAMPLE_RATE_HZ, resolution_bits: int = ECG_RESOLUTION_BITS
) -> bytes:
    """Start ECG streaming; the H10 default gives ``02 00 00 01 82 00 01 01 0E 00``."""
    settings: Settings = {
        PmdSetting.SAMPLE_RATE: [sample_rate_hz],
        PmdSetting.RESOLUTION: [resolution_bits],
    }
    return encode_start(PmdMeasurement.ECG, settings)


def encode_stop(measurement: PmdMeasurement = PmdMeasurement.ECG) -> bytes:
    """Stop streaming: ``03 00`` for ECG (not ``01 00``, which asks for the settings)."""
    return bytes([PmdOp.STOP, measurement])


def encode_get_settings(measurement: PmdMeasurement = PmdMeasurement.ECG) -> bytes:
    """Ask which settings ``measurement`` supports: ``01 00`` for ECG."""
    return bytes([PmdOp.GET_SETTINGS, measurement])


START_ECG = encode_start_ecg()
STOP_ECG = encode_stop()


@dataclass(frozen=True, slots=True)
class PmdResponse:
    """A control-point indication answering a command."""

    op: int
    measurement: int
    status: int
    more_frames: bool
    params: bytes

    @property
    def succeeded(self) -> bool:
        return self.status == 0

    @property
    def status_name(self) -> str:
        return PMD_STATUS.get(self.status, f"unknown_{self.status}")

    def settings(self) -> dict[int, tuple[int, ...]]:
        """The params parsed as setting TLVs (meaningful for a successful get-settings)."""
        return decode_settings(self.params)


def decode_control_point_response(payload: bytes | bytearray) -> PmdResponse:
    """Decode a control-point indication ``F0 | op | type | status | [more | params...]``.

    Error responses may stop after the status byte (e.g. ``F0 01 06 07``); ``more_frames`` is
    then False and ``params`` empty.
    """
    if len(payload) < 4:
        raise MalformedPayload(f"PMD response: payload is {len(payload)} bytes, need at least 4")
    if payload[0] != RESPONSE_MARKER:
        raise MalformedPayload(f"PMD response: starts with 0x{payload[0]:02X}, expected 0xF0")
    more = len(payload) > 4 and payload[4] != 0
    return PmdResponse(payload[1], payload[2], payload[3], more, bytes(payload[5:]))


def decode_features(payload: bytes | bytearray) -> frozenset[int]:
    """Decode a control-point *read* (``0F <bitmask>...``): the available measurement types."""
    if len(payload) < 2 or payload[0] != FEATURES_MARKER:
        raise MalformedPayload(f"PMD features: expected 0F and a bitmask, got {payload.hex(' ')}")
    mask = int.from_bytes(payload[1:], "little")
    return frozenset(bit for bit in range(mask.bit_length()) if mask >> bit & 1)


@dataclass(frozen=True, slots=True)
class EcgFrame:
    """One ECG notification: samples in uV at 130 Hz, oldest first.

    ``sensor_timestamp_ns`` is the strap's clock at the last sample, in ns since 2000-01-01 UTC;
    it resets when the strap is switched off, so use it for spacing, not as wall time.
    """

    sensor_timestamp_ns: int
    samples_uv: tuple[int, ...]

    @property
    def sensor_time(self) -> datetime:
        """The strap's clock at the last sample (UTC; microsecond resolution)."""
        return POLAR_EPOCH + timedelta(microseconds=self.sensor_timestamp_ns // 1000)


def decode_ecg_frame(payload: bytes | bytearray) -> EcgFrame:
    """Decode a PMD data notification carrying an uncompressed ECG frame (frame type 0)."""
    if len(payload) < ECG_HEADER_SIZE + ECG_SAMPLE_SIZE:
        raise MalformedPayload(f"PMD ECG: payload is {len(payload)} bytes, need at least 13")
    if payload[0] != PmdMeasurement.ECG:
        raise MalformedPayload(f"PMD ECG: measurement type is {payload[0]}, not 0 (ECG)")
    frame_type = payload[9]
    if frame_type != 0:
        kind = "compressed " if frame_type & COMPRESSED_FRAME else ""
        raise MalformedPayload(f"PMD ECG: {kind}frame type 0x{frame_type:02X} is not supported")
    body = payload[ECG_HEADER_SIZE:]
    if len(body) % ECG_SAMPLE_SIZE:
        raise MalformedPayload(f"PMD ECG: {len(body)} sample bytes is not a multiple of 3")
    samples = tuple(
        int.from_bytes(body[i : i + ECG_SAMPLE_SIZE], "little", signed=True)
        for i in range(0, len(body), ECG_SAMPLE_SIZE)
    )
    return EcgFrame(int.from_bytes(payload[1:9], "little"), samples)


def encode_ecg_frame(sensor_timestamp_ns: int, samples_uv: Sequence[int]) -> bytes:
    """Build an ECG notification (for a simulator): the inverse of :func:`decode_ecg_frame`."""
    head = bytes([PmdMeasurement.ECG]) + sensor_timestamp_ns.to_bytes(8, "little") + b"\x00"
    return head + b"".join(s.to_bytes(ECG_SAMPLE_SIZE, "little", signed=True) for s in samples_uv)


def _span(frame: EcgFrame, fs_hz: float) -> timedelta:
    """Time from the frame's first to its last sample."""
    return timedelta(seconds=(len(frame.samples_uv) - 1) / fs_hz)


def first_sample_at_receive(
    frame: EcgFrame, received_at: datetime, fs_hz: float = ECG_SAMPLE_RATE_HZ
) -> datetime:
    """Gateway time of the frame's first sample, taking the last sample as taken on receipt.

    The simplest anchor: jitters with radio latency (tens of ms); :class:`EcgClock` is smoother.
    """
    return received_at.astimezone(UTC) - _span(frame, fs_hz)


@dataclass
class EcgClock:
    """Maps the strap's sample clock onto the gateway clock, one stream at a time.

    The offset (gateway minus sensor) is the *smallest* seen so far: the frame that travelled
    fastest bounds the true offset best, and no projected sample lands after its own receipt.
    A frame whose offset differs from the current one by more than ``max_lag_s`` means the
    strap's clock jumped (reset after switch-off, or was set): the clock re-anchors on that frame
    and says so, so the caller can start a new chunk or flag "clock_unsure".
    Keep one instance per connection and checkpoint ``offset_ns`` if needed.
    """

    fs_hz: float = ECG_SAMPLE_RATE_HZ
    max_lag_s: float = 2.0
    offset_ns: int | None = None

    def first_sample_time(self, frame: EcgFrame, received_at: datetime) -> tuple[datetime, bool]:
        """Gateway time (UTC) of the frame's first sample, and whether the clock re-anchored."""
        candidate = _unix_ns(received_at) - frame.sensor_timestamp_ns
        offset = self.offset_ns
        jumped = offset is None or abs(candidate - offset) > self.max_lag_s * NS_PER_S
        if offset is None or jumped or candidate < offset:
            offset = self.offset_ns = candidate
        last = _from_unix_ns(frame.sensor_timestamp_ns + offset)
        return last - _span(frame, self.fs_hz), jumped


def _unix_ns(moment: datetime) -> int:
    if moment.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def _from_unix_ns(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
