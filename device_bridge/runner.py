"""A running bridge: sources of device bytes → pipeline → outbox → uplink → hub.

Sources are coroutines that call ``pipeline.on_payload`` (the BLE link, or simulated devices);
the runner owns their lifetime, the uplink and a status snapshot for the status view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from device_bridge import bindings as binding_store
from device_bridge import service_log
from device_bridge.link.port import BleLink, LinkError, ScanFilter
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
    radio: str = "simulated"


@dataclass
class RadioStatus:
    """What the BLE source knows about the radio: ``ready``, ``no Bluetooth adapter (...)``,
    or ``simulated`` when the devices are simulated."""

    state: str = "simulated"

    def set(self, state: str, detail: str = "") -> None:
        if state != self.state:
            level = logging.ERROR if state.startswith("no ") else logging.INFO
            service_log.event("radio", level, state=state, detail=detail)
        self.state = state


#: The backlog is logged when the outbox passes 100, 200, 400, ... items, and when it empties.
BACKLOG_FIRST_ALERT = 100
BACKLOG_CHECK_S = 5.0


def ws_url(hub_url: str) -> str:
    base = hub_url.rstrip("/").removesuffix("/ws/bridge")
    base = base.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    return base + "/ws/bridge"


class BridgeRunner:
    """Composes one bridge from its settings; ``run`` until ``stop`` is set."""

    def __init__(
        self, settings: BridgeSettings, sources: list[Source], radio: RadioStatus | None = None
    ) -> None:
        self.settings = settings
        self.radio = radio or RadioStatus()
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
        service_log.event(
            "bridge_started", bridge=self.settings.bridge_id, hub=self.uplink.url,
            devices=len(self.pipeline.bindings), outbox_depth=self.outbox.depth(),
        )  # fmt: skip
        link = asyncio.create_task(self.uplink.run(stop))
        tasks: list[asyncio.Future[None]] = [asyncio.ensure_future(self._watch_backlog(stop))]
        if not drain_only:
            tasks += [asyncio.ensure_future(s(self.pipeline, stop)) for s in self.sources]
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
            final = self.final_status
            service_log.event(
                "bridge_stopped", bridge=self.settings.bridge_id,
                outbox_depth=final.outbox_depth, acked=final.acked_items,
            )  # fmt: skip

    async def _watch_backlog(self, stop: asyncio.Event, every_s: float = BACKLOG_CHECK_S) -> None:
        """Log the outbox growing past 100, 200, 400, ... items (the hub refuses or is away)
        and emptying again."""
        alert_at = BACKLOG_FIRST_ALERT
        while not stop.is_set():
            depth = self.outbox.depth()
            if depth >= alert_at:
                service_log.event(
                    "backlog", logging.WARNING, bridge=self.settings.bridge_id, outbox_depth=depth,
                    link=self.uplink.status.state, last_error=self.uplink.status.last_error,
                )  # fmt: skip
                while alert_at <= depth:
                    alert_at *= 2
            elif depth == 0 and alert_at > BACKLOG_FIRST_ALERT:
                service_log.event("backlog_cleared", bridge=self.settings.bridge_id)
                alert_at = BACKLOG_FIRST_ALERT
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(every_s):
                    await stop.wait()

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
            radio=self.radio.state,
            devices=[
                DeviceStatus(b.address, b.patient_id, b.profile, seen.get(b.address))
                for b in self.pipeline.bindings.values()
            ],
        )


#: How often a bridge without a usable Bluetooth adapter looks again.
RADIO_RETRY_S = 30.0


async def wait_for_radio(
    link: BleLink, radio: RadioStatus, stop: asyncio.Event, retry_s: float = RADIO_RETRY_S
) -> bool:
    """Probe the adapter with a short scan until it answers (True) or ``stop`` (False); while
    it does not, the status says "no Bluetooth adapter" instead of pretending all is well."""
    while not stop.is_set():
        try:
            await link.scan(ScanFilter(), 0.5)
        except (LinkError, OSError) as exc:
            radio.set("no Bluetooth adapter", f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(retry_s):
                    await stop.wait()
            continue
        radio.set("ready")
        return True
    return False


def ble_source(
    adapter: str | None = None,
    radio: RadioStatus | None = None,
    link_factory: Callable[[str | None], BleLink] | None = None,
) -> Source:
    """Real devices over BLE: one link session per paired device (bleak imported lazily).
    ``link_factory`` replaces bleak in tests."""
    radio = radio or RadioStatus()

    async def run(pipeline: BridgePipeline, stop: asyncio.Event) -> None:
        from device_bridge.link.profiles import PROFILES, DeviceKind
        from device_bridge.link.session import DeviceSession

        link = link_factory(adapter) if link_factory else _bleak_link(adapter)
        radio.set("probing")
        if not await wait_for_radio(link, radio, stop):
            return
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


def _bleak_link(adapter: str | None) -> BleLink:
    from device_bridge.link.bleak_link import BleakLink

    return BleakLink(adapter=adapter)


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
