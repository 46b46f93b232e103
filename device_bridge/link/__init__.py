"""The bridge's BLE link: a small port, its bleak implementation, a fake, and device sessions.

Only :mod:`device_bridge.link.bleak_link` imports bleak; import it lazily where a real radio is
wanted, so the rest of the bridge (and its tests) runs without bleak installed.
"""

from __future__ import annotations

from device_bridge.link.port import (
    Advertisement,
    BleLink,
    CharacteristicNotFound,
    ConnectFailed,
    Connection,
    DeviceNotFound,
    DisconnectHandler,
    GattError,
    LinkError,
    LinkTimeout,
    NotConnected,
    NotificationHandler,
    PairingFailed,
    PairingNotSupported,
    RetryPolicy,
    ScanFilter,
    uuid_of,
    with_retries,
)
from device_bridge.link.profiles import PROFILES, DeviceKind, DeviceProfile, OnConnect
from device_bridge.link.session import (
    DeviceSession,
    EventKind,
    PayloadHandler,
    SessionEvent,
    SessionTiming,
)
from device_bridge.link.watermarks import MemoryWatermarks, WatermarkStore

__all__ = [
    "PROFILES",
    "Advertisement",
    "BleLink",
    "CharacteristicNotFound",
    "ConnectFailed",
    "Connection",
    "DeviceKind",
    "DeviceNotFound",
    "DeviceProfile",
    "DeviceSession",
    "DisconnectHandler",
    "EventKind",
    "GattError",
    "LinkError",
    "LinkTimeout",
    "MemoryWatermarks",
    "NotConnected",
    "NotificationHandler",
    "OnConnect",
    "PairingFailed",
    "PairingNotSupported",
    "PayloadHandler",
    "RetryPolicy",
    "ScanFilter",
    "SessionEvent",
    "SessionTiming",
    "WatermarkStore",
    "uuid_of",
    "with_retries",
]
