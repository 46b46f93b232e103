"""The kiosk over BLE link sessions (device_bridge's fake link): a measurement the nurse starts on
the device reaches the visit; a device dropping the link fails the measurement with a reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from device_bridge.gatt import encode
from device_bridge.link.fake import FakeCharacteristic, FakeLink, FakePeripheral
from device_bridge.link.port import RetryPolicy, uuid_of
from device_bridge.link.session import SessionTiming
from device_bridge.outbox import Outbox
from telemedpoint_kiosk.ble import BleDevices
from telemedpoint_kiosk.devices import DeviceProblem, KioskDevice, KioskDevices
from telemedpoint_kiosk.store import KioskStore
from telemedpoint_kiosk.visits import VisitService

CUFF = "AA:BB:CC:00:00:10"
BP = uuid_of(0x2A35)
FAST = SessionTiming(
    scan_timeout_s=0.2, connect_timeout_s=1.0, procedure_timeout_s=1.0,
    reconnect=RetryPolicy(attempts=0, initial_delay_s=0.001, max_delay_s=0.01, jitter=0),
)  # fmt: skip
PATIENT = {
    "family_name": "Novák",
    "given_name": "Jan",
    "birth_date": "1950-01-01",
    "consent": "yes",
}


@pytest.fixture
async def kiosk(tmp_path: Path) -> AsyncIterator[tuple[VisitService, FakePeripheral]]:
    chars = [FakeCharacteristic(BP, frozenset({"indicate"}))]
    cuff = FakePeripheral(CUFF, chars, advertised_services=[0x1810])
    store, outbox = KioskStore(tmp_path / "k.db"), Outbox(tmp_path / "o.db")
    devices = KioskDevices(outbox, [KioskDevice(CUFF, "bp_cuff", "cuff-1")])
    ble = BleDevices(devices, FakeLink(cuff), FAST)
    devices.source = ble
    stop = asyncio.Event()
    task = asyncio.create_task(ble.run(stop))
    async with asyncio.timeout(5):
        while not cuff.subscribed(BP):
            await asyncio.sleep(0.01)
    yield VisitService(store, outbox, devices, measure_timeout_s=5.0), cuff
    stop.set()
    await task
    outbox.close()
    store.close()


async def bound(service: VisitService) -> None:
    """Until the kiosk has bound the cuff to the visit's patient (it waits for a measurement)."""
    async with asyncio.timeout(2):
        while CUFF not in service.devices.pipeline.bindings:
            await asyncio.sleep(0.005)


async def test_a_measurement_started_on_the_cuff_reaches_the_visit(
    kiosk: tuple[VisitService, FakePeripheral],
) -> None:
    service, cuff = kiosk
    visit = service.start(service.register(dict(PATIENT), "n").id, "hypertension", [], "n")
    waiting = asyncio.create_task(service.measure(visit, "bp"))
    await bound(service)  # the kiosk waits; the nurse presses the cuff's button
    stamp = datetime.now(UTC).replace(microsecond=0)
    cuff.notify(BP, encode.encode_blood_pressure(128, 82, 97, timestamp=stamp, pulse_bpm=70))
    m = await waiting
    assert (m.values["bp_systolic"], m.values["bp_diastolic"], m.device_id) == (128, 82, "cuff-1")


async def test_a_cuff_dropping_the_link_fails_the_measurement(
    kiosk: tuple[VisitService, FakePeripheral],
) -> None:
    service, cuff = kiosk
    visit = service.start(service.register(dict(PATIENT), "n").id, "hypertension", [], "n")
    waiting = asyncio.create_task(service.measure(visit, "bp"))
    await bound(service)
    cuff.drop_link()
    with pytest.raises(DeviceProblem) as problem:
        await waiting
    assert problem.value.code == "disconnected"
