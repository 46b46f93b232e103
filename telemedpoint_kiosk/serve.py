"""Run a kiosk: compose it (simulated or Bluetooth devices), serve its web app with uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from telemedpoint_kiosk.runtime import Kiosk, installed_devices
from telemedpoint_kiosk.settings import KioskSettings
from telemedpoint_kiosk.simulated import KIOSK_DEVICES, SimulatedDevices
from telemedpoint_kiosk.web.app import create_kiosk_app


def build_kiosk(settings: KioskSettings) -> tuple[Kiosk, SimulatedDevices | None]:
    """A kiosk with simulated devices (``settings.simulate``) or the paired Bluetooth ones."""
    if settings.simulate:
        kiosk = Kiosk(settings, KIOSK_DEVICES)
        sim = SimulatedDevices(
            kiosk.devices,
            measure_wall_s=settings.sim_measure_wall_s,
            strip_wall_s=settings.sim_strip_wall_s,
        )
        kiosk.attach(sim)
        return kiosk, sim
    return Kiosk(settings, installed_devices(settings)), None


async def serve_kiosk(
    settings: KioskSettings,
    on_ready: Callable[[str], Awaitable[None]] | None = None,
    *,
    adapter: str | None = None,
) -> None:
    import uvicorn

    kiosk, _ = build_kiosk(settings)
    stop = asyncio.Event()
    ble_task = None
    if not settings.simulate and kiosk.devices.devices:
        from device_bridge.link.bleak_link import BleakLink
        from telemedpoint_kiosk.ble import BleDevices

        ble = BleDevices(kiosk.devices, BleakLink(adapter=adapter))
        kiosk.attach(ble)
        ble_task = asyncio.create_task(ble.run(stop))
    config = uvicorn.Config(
        create_kiosk_app(kiosk), host=settings.host, port=settings.port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
        await asyncio.sleep(0.05)
    if server.started and on_ready is not None:
        port = server.servers[0].sockets[0].getsockname()[1]
        await on_ready(f"http://{settings.host}:{port}")
    try:
        await task
    finally:
        stop.set()
        if ble_task is not None:
            await ble_task
