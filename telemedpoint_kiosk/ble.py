"""Real devices for the kiosk: one device_bridge link session per paired device (bleak is
imported by the bridge's link module only, and only when this source runs).

A real cuff, oximeter, scale or thermometer measures when the nurse starts it, and a Polar H10
streams ECG once connected, so ``request`` only listens: the kiosk binds the device to the
visit's patient and takes the next measurement that arrives.
"""

from __future__ import annotations

import asyncio

from device_bridge.link.port import BleLink
from device_bridge.link.profiles import PROFILES, DeviceKind
from device_bridge.link.session import DeviceSession, EventKind, SessionEvent, SessionTiming
from telemedpoint_kiosk.devices import KioskDevice, KioskDevices


class BleDevices:
    """A DeviceSource over BLE link sessions."""

    def __init__(
        self, sink: KioskDevices, link: BleLink, timing: SessionTiming | None = None
    ) -> None:
        self.sink = sink
        self.sessions = [
            DeviceSession(
                link,
                d.address,
                PROFILES[DeviceKind(d.profile)],
                sink.on_payload,
                on_event=self._event,
            )
            for d in sink.devices.values()
        ]

    async def request(self, device: KioskDevice, what: str, seconds: float = 0.0) -> None:
        return None  # the nurse starts the device; its next measurement is taken

    async def run(self, stop: asyncio.Event) -> None:
        tasks = [asyncio.create_task(s.run()) for s in self.sessions]
        try:
            await stop.wait()
        finally:
            for s in self.sessions:
                s.stop()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _event(self, event: SessionEvent) -> None:
        if event.kind in (EventKind.DISCONNECTED, EventKind.SILENT):
            self.sink.on_disconnect(event.address)
