"""A running bridge: sources of device bytes → pipeline → outbox → uplink → hub.

Sources are coroutines that call ``pipeline.on_payload`` (the BLE link, or simulated devices);
the runner owns their lifetime, the uplink and a status snapshot for the status view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from device_bridge import bindings as binding_store
from device_bridge.outbox import Outbox
from device_bridge.pipeline import BridgePipeline
from device_bridge.settings import BridgeSettings
from device_bridge.simulator import SimulatedPatient
from device_bridge.uplink import Uplink
from telemed_core.values import utc_now

Source = Callable[[BridgePipeline, asyncio.Event], Awaitable[None]]


@dataclass(frozen=True)
class DeviceStatus:
    address: str
    patient_id: str
    profile: str
    last_reading_at: datetime | None


@dataclass(frozen=True)
class BridgeStatus:
    """What the status view shows."""

    link_state: str
    outbox_depth: int
    outbox_near_full: bool
    quarantined: int
    acked_items: int
    last_ack_at: datetime | None
    last_error: str
    devices: list[DeviceStatus]


def ws_url(hub_url: str) -> str:
    base = hub_url.rstrip("/").removesuffix("/ws/bridge")
    base = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return base + "/ws/bridge"


class BridgeRunner:
    """Composes one bridge from its settings; ``run`` until ``stop`` is set."""

    def __init__(self, settings: BridgeSettings, sources: list[Source]) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.outbox_path, max_items=settings.max_outbox_items)
        self.pipeline = BridgePipeline(self.outbox, binding_store.load(settings.bindings_path))
        self.uplink = Uplink(
            ws_url(settings.hub_url),
            settings.bridge_id,
            settings.token,
            self.outbox,
            batch_size=settings.batch_size,
            newest_first=settings.newest_first,
        )
        self.sources = sources
        self.final_status: BridgeStatus | None = None

    async def run(self, stop: asyncio.Event, *, drain_only: bool = False) -> None:
        """Recover what a crash left, then stream; with ``drain_only``, exit when empty."""
        self.pipeline.recover()
        link = asyncio.create_task(self.uplink.run(stop))
        tasks: list[asyncio.Future[None]] = []
        if not drain_only:
            tasks = [asyncio.ensure_future(s(self.pipeline, stop)) for s in self.sources]
        try:
            if drain_only:
                drained = asyncio.create_task(self.outbox.drained.wait())
                await asyncio.wait({drained, link}, return_when=asyncio.FIRST_COMPLETED)
                drained.cancel()
                stop.set()
            await link
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.final_status = self.status()
            self.outbox.close()

    def status(self) -> BridgeStatus:
        up = self.uplink.status
        seen = self.pipeline.stats.last_reading_at
        return BridgeStatus(
            link_state=up.state,
            outbox_depth=self.outbox.depth(),
            outbox_near_full=self.outbox.near_full,
            quarantined=self.outbox.quarantine_count(),
            acked_items=up.acked_items,
            last_ack_at=up.last_ack_at,
            last_error=up.last_error,
            devices=[
                DeviceStatus(b.address, b.patient_id, b.profile, seen.get(b.address))
                for b in self.pipeline.bindings.values()
            ],
        )


def ble_source(adapter: str | None = None) -> Source:
    """Real devices over BLE: one link session per paired device (bleak imported lazily)."""

    async def run(pipeline: BridgePipeline, stop: asyncio.Event) -> None:
        from device_bridge.link.bleak_link import BleakLink
        from device_bridge.link.session import PROFILES, DeviceKind, DeviceSession

        link = BleakLink(adapter=adapter)
        sessions = [
            DeviceSession(
                link, b.address, PROFILES[DeviceKind(b.profile)], pipeline.on_payload,
                watermarks=pipeline.outbox,
            )
            for b in pipeline.bindings.values()
        ]  # fmt: skip
        tasks = [asyncio.create_task(s.run()) for s in sessions]
        try:
            await stop.wait()
        finally:
            for s in sessions:
                s.stop()
            await asyncio.gather(*tasks, return_exceptions=True)

    return run


def pair_simulated(settings: BridgeSettings, patient_ids: list[str]) -> None:
    """Pair the simulated devices of ``patient_ids`` like real ones (persisted bindings), so
    that bytes captured before a crash still find their patient on restart."""
    for pid in patient_ids:
        for binding in SimulatedPatient(pid, seed=0).bindings():
            binding_store.bind(settings.bindings_path, binding)


def simulated_source(patient_ids: list[str], *, speed: float = 1.0, seed: int = 0) -> Source:
    """Simulated devices for ``patient_ids`` (pair them first: ``pair_simulated``)."""

    async def run(pipeline: BridgePipeline, stop: asyncio.Event) -> None:
        patients = [SimulatedPatient(pid, seed=seed + i) for i, pid in enumerate(patient_ids)]
        started = utc_now()
        tick = 0
        while not stop.is_set():
            at = started + timedelta(seconds=tick / speed)
            for p in patients:
                for n in p.tick(at):
                    pipeline.on_payload(n.address, n.characteristic, n.payload, n.received_at)
            tick += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, (at - utc_now()).total_seconds() + 1 / speed)):
                    await stop.wait()

    return run
