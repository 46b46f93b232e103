"""Device profiles: what each kind of device is scanned by, must and may offer, streams, and
does on connect (the characteristics by their 16-bit UUIDs)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from device_bridge.link.port import (
    ScanFilter,
    uuid_of,
)
from device_bridge.polar import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
)

HEART_RATE = uuid_of(0x2A37)
PLX_SPOT_CHECK, PLX_CONTINUOUS = uuid_of(0x2A5E), uuid_of(0x2A5F)
BLOOD_PRESSURE, INTERMEDIATE_CUFF_PRESSURE = uuid_of(0x2A35), uuid_of(0x2A36)
TEMPERATURE, INTERMEDIATE_TEMPERATURE = uuid_of(0x2A1C), uuid_of(0x2A1E)
WEIGHT = uuid_of(0x2A9D)
GLUCOSE, GLUCOSE_CONTEXT, RACP = uuid_of(0x2A18), uuid_of(0x2A34), uuid_of(0x2A52)


class DeviceKind(StrEnum):
    HEART_RATE_STRAP = "heart_rate_strap"
    PULSE_OXIMETER = "pulse_oximeter"
    BP_CUFF = "bp_cuff"
    THERMOMETER = "thermometer"
    WEIGHT_SCALE = "weight_scale"
    GLUCOSE_METER = "glucose_meter"
    POLAR_H10 = "polar_h10"


class OnConnect(StrEnum):
    """The procedure a session runs once subscribed."""

    NOTHING = "nothing"
    RACP_SYNC = "racp_sync"  # pull stored records above the watermark
    POLAR_ECG = "polar_ecg"  # start the H10's 130 Hz ECG stream


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """What a session does with one kind of device.

    ``required`` characteristics are subscribed in order right after connecting, then the
    ``optional`` ones the device has. Silence on every subscribed ``streams`` characteristic
    for ``silence_timeout_s`` seconds means a dead link (the supervision timeout can take far
    longer to notice): the session reconnects. ``needs_bonding`` pairs before subscribing,
    because many cuffs, meters and scales refuse CCCD writes on an unencrypted link.
    """

    kind: DeviceKind
    scan_filter: ScanFilter
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    streams: frozenset[str] = frozenset()
    silence_timeout_s: float | None = None
    needs_bonding: bool = False
    on_connect: OnConnect = OnConnect.NOTHING

    def matching(
        self, *, name_prefixes: tuple[str, ...] = (), manufacturer_ids: frozenset[int] = frozenset()
    ) -> DeviceProfile:
        """This profile, also accepting devices that advertise these names or manufacturer
        ids (for models that do not advertise their service)."""
        scan = self.scan_filter
        wider = replace(
            scan,
            name_prefixes=scan.name_prefixes + name_prefixes,
            manufacturer_ids=scan.manufacturer_ids | manufacturer_ids,
        )
        return replace(self, scan_filter=wider)


def _services(*numbers: int) -> ScanFilter:
    return ScanFilter(service_uuids=frozenset(uuid_of(n) for n in numbers))


PROFILES: dict[DeviceKind, DeviceProfile] = {
    profile.kind: profile
    for profile in (
        DeviceProfile(
            DeviceKind.HEART_RATE_STRAP,
            _services(0x180D),
            required=(HEART_RATE,),
            streams=frozenset({HEART_RATE}),
            silence_timeout_s=10.0,
        ),
        DeviceProfile(
            DeviceKind.PULSE_OXIMETER,
            _services(0x1822),
            required=(),
            optional=(PLX_CONTINUOUS, PLX_SPOT_CHECK),
            streams=frozenset({PLX_CONTINUOUS}),
            silence_timeout_s=10.0,
        ),
        DeviceProfile(
            DeviceKind.BP_CUFF,
            _services(0x1810),
            required=(BLOOD_PRESSURE,),
            optional=(INTERMEDIATE_CUFF_PRESSURE,),
            needs_bonding=True,
        ),
        DeviceProfile(
            DeviceKind.THERMOMETER,
            _services(0x1809),
            required=(TEMPERATURE,),
            optional=(INTERMEDIATE_TEMPERATURE,),
        ),
        DeviceProfile(
            DeviceKind.WEIGHT_SCALE, _services(0x181D), required=(WEIGHT,), needs_bonding=True
        ),
        DeviceProfile(
            DeviceKind.GLUCOSE_METER,
            _services(0x1808),
            required=(GLUCOSE, RACP),  # GLS answers RACP with 0x81 unless both are subscribed
            optional=(GLUCOSE_CONTEXT,),
            needs_bonding=True,
            on_connect=OnConnect.RACP_SYNC,
        ),
        DeviceProfile(
            DeviceKind.POLAR_H10,
            ScanFilter(name_prefixes=("Polar H10",)),
            required=(HEART_RATE, PMD_CONTROL_POINT_UUID, PMD_DATA_UUID),
            streams=frozenset({HEART_RATE, PMD_DATA_UUID}),
            silence_timeout_s=15.0,
            on_connect=OnConnect.POLAR_ECG,
        ),
    )
}
