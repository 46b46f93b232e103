"""The real bleak link (BlueZ backend) against emulated peripherals, with no radio.

bluezoo, a user-space mock of BlueZ's D-Bus API, runs on a private dbus-daemon; bleak reaches
it through DBUS_SYSTEM_BUS_ADDRESS. Each emulated peripheral is a BlueZ GATT application plus
an LE advertisement, registered over D-Bus on its own mock adapter (hci1, hci2), exactly as a
peripheral app registers with real BlueZ; bleak uses hci0. See shared/reference/ble-testing.md.

Without dbus-daemon or bluezoo these tests skip; with CI=true they fail instead.
"""

# No ``from __future__ import annotations``: dbus-fast reads the D-Bus signatures from the
# annotations of the emulated peripherals' methods and properties at class creation.

import asyncio
import contextlib
import ctypes
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, cast

import pytest

from device_bridge.gatt.encode import encode_glucose
from device_bridge.gatt.racp import (
    RacpOperator,
    RacpResponseCode,
    decode_racp_request,
    encode_racp_report_all,
    encode_racp_report_from,
    encode_racp_response,
)
from device_bridge.link import (
    PROFILES,
    DeviceKind,
    DeviceProfile,
    DeviceSession,
    EventKind,
    MemoryWatermarks,
    PairingNotSupported,
    RetryPolicy,
    ScanFilter,
    SessionEvent,
    SessionTiming,
    uuid_of,
)

IN_CI = os.environ.get("CI", "").lower() == "true"
REQUIRED_MODULES = {
    "bleak": "bleak==3.1.0",
    "bleak_retry_connector": "bleak-retry-connector==4.7.1",
    "dbus_fast": "dbus-fast (a bleak dependency)",
    "bluezoo": "bluezoo==1.0.2",
    "sdbus": "sdbus (a bluezoo dependency)",
}


def _missing_pieces() -> list[str]:
    missing = [] if shutil.which("dbus-daemon") else ["dbus-daemon (Debian package dbus-daemon)"]
    missing += [
        pkg for mod, pkg in REQUIRED_MODULES.items() if importlib.util.find_spec(mod) is None
    ]
    return missing


MISSING = _missing_pieces()
if MISSING:
    _why = f"bleak-on-bluezoo tests need {', '.join(MISSING)}"
    if IN_CI:  # CI must prove the real link works: a missing piece is a failure there
        pytest.fail(f"{_why}; they are mandatory when CI=true", pytrace=False)
    pytest.skip(_why, allow_module_level=True)

pytestmark = pytest.mark.timeout(30)

from dbus_fast import BusType, Message, MessageType  # noqa: E402
from dbus_fast.aio import MessageBus  # noqa: E402
from dbus_fast.annotations import (  # noqa: E402
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
)
from dbus_fast.constants import PropertyAccess  # noqa: E402
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property  # noqa: E402

from device_bridge.link.bleak_link import BleakConnection, BleakLink  # noqa: E402

CENTRAL, STRAP, METER = "00:00:00:00:00:01", "00:00:00:00:00:02", "00:00:00:00:00:03"
HRS, HRM, BSL = uuid_of(0x180D), uuid_of(0x2A37), uuid_of(0x2A38)
GLUCOSE, RACP = uuid_of(0x2A18), uuid_of(0x2A52)
DBusStrings = Annotated[list[str], DBusSignature("as")]
TIMING = SessionTiming(
    scan_timeout_s=5.0,
    connect_timeout_s=10.0,
    procedure_timeout_s=5.0,
    disconnect_timeout_s=3.0,
    reconnect=RetryPolicy(attempts=0, initial_delay_s=0.05, max_delay_s=0.5, jitter=0),
)
FAST_RETRY = RetryPolicy(attempts=6, initial_delay_s=0.1, factor=2, max_delay_s=1.0, jitter=0)

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

# bluezoo 1.0.2 in its own process, with the three fixes ble-testing.md measured as needed.
BLUEZOO_LAUNCHER = r"""
import asyncio, contextlib, logging, os, sys
import sdbus
from bluezoo import bluezoo, device

_disconnect = device.Device.disconnect

async def disconnect(self, uuid=None):
    await _disconnect(self, uuid)
    # Fix 1: bluezoo marks a detached copy of the counterpart device; disconnect the real one.
    path = f"{self.peer_adapter.get_object_path()}/dev_{self.adapter.address.replace(':', '_')}"
    counterpart = self.peer_adapter.devices.get(path)
    if counterpart is not None and counterpart.connected:
        await counterpart.disconnect()
    # Fix 2: drop the GATT links and stop the app's notifications, so a reconnect works.
    for link in list(self.services.values()):
        subscription = getattr(link, "client_props_changed_subscription", None)
        # A pyventus subscriber's unsubscribe() is True when it was live (bluezoo's own
        # placeholder returns None): only then did the app get a StartNotify to undo.
        if subscription is not None and subscription.unsubscribe():
            with contextlib.suppress(Exception):
                await link.client.StopNotify()
        self.adapter.mock.remove_object(link)
    if self.services:
        self.services.clear()
        await self.ServicesResolved.set_async(False)

device.Device.disconnect = disconnect

class Device(device.Device):
    # Fix 3: a new RSSI every scan cycle (BlueZ: per advertisement), so bleak sees known devices.
    @sdbus.dbus_property_async_override()
    def RSSI(self) -> int:
        return self.rssi

    @RSSI.setter_private
    def _set_rssi(self, value):
        self.rssi = value

    async def properties_sync(self, other):
        await super().properties_sync(other)
        await self.RSSI.set_async(-61 if self.rssi == -60 else -60)

bluezoo.Device = Device
logging.basicConfig(level=os.environ.get("ZOOLOG", "WARNING"))
loop = asyncio.new_event_loop()
loop.run_until_complete(bluezoo.startup(adapters=sys.argv[1:], auto_enable=True, scan_interval=0.2))
loop.run_forever()
"""


def _die_with_parent() -> None:
    """Children get SIGTERM if the test run is killed, so nothing outlives it."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


async def _call(
    bus: MessageBus, path: str, interface: str, member: str, signature: str = "", body: Any = ()
) -> list[Any]:
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=interface,
            member=member,
            signature=signature,
            body=list(body),
        )
    )
    assert reply is not None
    if reply.message_type is not MessageType.METHOD_RETURN:
        raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
    return list(reply.body)


async def _bus(address: str) -> MessageBus:
    return await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()


# -- emulated peripherals ------------------------------------------------------------------


class GattService(ServiceInterface):
    def __init__(self, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


class GattCharacteristic(ServiceInterface):
    """A characteristic that counts subscriptions and overlapping reads."""

    def __init__(self, uuid: str, service: str, flags: list[str], value: bytes = b"") -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._uuid, self._service, self._flags, self.value = uuid, service, flags, value
        self.on_write: Callable[[bytes], None] = lambda _value: None
        self.read_delay_s = 0.0
        self.notifying = False
        self.start_count = 0
        self.in_flight = self.max_in_flight = 0

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrings:
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.value

    @dbus_method()
    async def ReadValue(self, options: DBusDict) -> DBusBytes:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.read_delay_s)
            return self.value
        finally:
            self.in_flight -= 1

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        self.on_write(bytes(value))

    @dbus_method()
    def StartNotify(self) -> None:
        self.notifying = True
        self.start_count += 1

    @dbus_method()
    def StopNotify(self) -> None:
        self.notifying = False

    @dbus_method()
    def Confirm(self) -> None:  # bluezoo confirms every value change
        return None

    def notify(self, value: bytes) -> bool:
        self.value = value
        if self.notifying:
            self.emit_properties_changed({"Value": value})
        return self.notifying


class LEAdvertisement(ServiceInterface):
    def __init__(self, name: str, services: list[str]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self._name, self._services = name, services

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> DBusStrings:
        return self._services

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self._name

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return True


class Peripheral:
    """One emulated device: its own D-Bus connection, mock adapter and GATT application."""

    def __init__(
        self, bus: MessageBus, adapter: str, root: str, name: str, advertised: list[str]
    ) -> None:
        self.bus, self.adapter, self.root = bus, adapter, root
        self._advertisement = LEAdvertisement(name, advertised)
        self._objects: list[tuple[str, ServiceInterface]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def add_service(self, uuid: str) -> str:
        path = f"{self.root}/s{len(self._objects)}"
        self._objects.append((path, GattService(uuid)))
        return path

    def add_characteristic(
        self, service: str, uuid: str, flags: list[str], value: bytes = b""
    ) -> GattCharacteristic:
        char = GattCharacteristic(uuid, service, flags, value)
        self._objects.append((f"{service}/c{len(self._objects)}", char))
        return char

    async def register(self) -> None:
        for path, obj in self._objects:
            self.bus.export(path, obj)
        manager = "org.bluez.GattManager1"
        await _call(
            self.bus, self.adapter, manager, "RegisterApplication", "oa{sv}", [self.root, {}]
        )

    async def advertise(self) -> None:
        self.bus.export(f"{self.root}/adv", self._advertisement)
        await _call(
            self.bus,
            self.adapter,
            "org.bluez.LEAdvertisingManager1",
            "RegisterAdvertisement",
            "oa{sv}",
            [f"{self.root}/adv", {}],
        )

    async def disconnect_central(self) -> None:
        """The peripheral drops the link (switched off, walked away)."""
        path = f"{self.adapter}/dev_{CENTRAL.replace(':', '_')}"
        await _call(self.bus, path, "org.bluez.Device1", "Disconnect")

    def spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class GlucoseMeter:
    """A meter that advertises only its name and answers RACP report requests."""

    def __init__(self, peripheral: Peripheral) -> None:
        service = peripheral.add_service(uuid_of(0x1808))
        self.measurement = peripheral.add_characteristic(service, GLUCOSE, ["notify"])
        self.racp = peripheral.add_characteristic(service, RACP, ["write", "indicate"])
        self.racp.on_write = self._request
        self.peripheral = peripheral
        self.records: dict[int, bytes] = {}
        self.requests: list[bytes] = []

    def store(self, *sequences: int) -> None:
        base = datetime(2024, 3, 15, 7, 45, tzinfo=UTC)
        for seq in sequences:
            self.records[seq] = encode_glucose(
                seq, base + timedelta(minutes=seq), concentration=0.001
            )

    def _request(self, value: bytes) -> None:
        self.requests.append(value)
        request = decode_racp_request(value)
        first = (
            request.sequence_numbers[0] if request.operator == RacpOperator.GREATER_OR_EQUAL else 0
        )
        self.peripheral.spawn(
            self._send([s for s in sorted(self.records) if s >= first], request.op)
        )

    async def _send(self, sequences: list[int], op: int) -> None:
        for seq in sequences:
            await asyncio.sleep(0.005)  # paced, as a meter's radio would be
            self.measurement.notify(self.records[seq])
        await asyncio.sleep(0.005)
        code = RacpResponseCode.SUCCESS if sequences else RacpResponseCode.NO_RECORDS_FOUND
        self.racp.notify(encode_racp_response(op, code))


class Zoo:
    """The mock: a private bus, bluezoo with hci0 (bleak's) and one adapter per peripheral."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._buses: list[MessageBus] = []

    async def peripheral(
        self, adapter: str, root: str, name: str, advertised: list[str]
    ) -> Peripheral:
        bus = await _bus(self.address)
        self._buses.append(bus)
        return Peripheral(bus, f"/org/bluez/{adapter}", root, name, advertised)

    async def strap(self) -> tuple[Peripheral, GattCharacteristic, GattCharacteristic]:
        strap = await self.peripheral("hci1", "/strap", "HR strap", [HRS])
        service = strap.add_service(HRS)
        hrm = strap.add_characteristic(service, HRM, ["notify"])
        bsl = strap.add_characteristic(service, BSL, ["read"], b"\x01")
        await strap.register()
        return strap, hrm, bsl

    async def meter(self) -> GlucoseMeter:
        meter = GlucoseMeter(await self.peripheral("hci2", "/meter", "Meter GL-50", []))
        await meter.peripheral.register()
        await meter.peripheral.advertise()
        return meter

    def close(self) -> None:
        for bus in self._buses:
            bus.disconnect()


async def _wait_ready(address: str, log_path: Path, timeout_s: float = 10.0) -> None:
    bus = await _bus(address)
    try:
        async with asyncio.timeout(timeout_s):
            while True:  # hci2 is powered last, so its answer means every adapter is up
                with contextlib.suppress(RuntimeError):
                    props = "org.freedesktop.DBus.Properties"
                    args = ["org.bluez.Adapter1", "Powered"]
                    if (await _call(bus, "/org/bluez/hci2", props, "Get", "ss", args))[0].value:
                        return
                await asyncio.sleep(0.02)
    except TimeoutError:
        log = await asyncio.to_thread(log_path.read_text)
        pytest.fail(f"bluezoo did not come up in {timeout_s} s:\n{log[-2000:]}")
    finally:
        bus.disconnect()


def _workdir() -> Path:
    workdir = Path(tempfile.mkdtemp(prefix="zoo"))  # short: unix socket paths are limited
    (workdir / "bus.conf").write_text(BUS_CONF.format(dir=workdir))
    return workdir


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 5)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), 5)


@pytest.fixture
async def zoo(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Zoo]:
    """A fresh private bus and bluezoo per test (~0.2 s), stopped by PID afterwards."""
    workdir = _workdir()
    log_path = workdir / "bluezoo.log"
    daemon = await asyncio.create_subprocess_exec(
        "dbus-daemon",
        f"--config-file={workdir / 'bus.conf'}",
        "--nofork",
        "--print-address=1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    processes = [daemon]
    try:
        assert daemon.stdout is not None
        address = (await asyncio.wait_for(daemon.stdout.readline(), 5)).decode().strip()
        with log_path.open("w") as log:  # noqa: ASYNC230 (a local file, opened once)
            bluezoo = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                BLUEZOO_LAUNCHER,
                CENTRAL,
                STRAP,
                METER,
                env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address},
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        processes.insert(0, bluezoo)
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        await _wait_ready(address, log_path)
        zoo = Zoo(address)
        yield zoo
        zoo.close()
    finally:
        for process in processes:  # bluezoo first: it does not exit when its bus dies
            await _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[tuple[str, str, bytes, datetime]] = []
        self.events: list[SessionEvent] = []
        self._changed = asyncio.Event()

    def payload(self, address: str, uuid: str, payload: bytes, received_at: datetime) -> None:
        self.payloads.append((address, uuid, payload, received_at))
        self._changed.set()

    def event(self, event: SessionEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def count(self, kind: EventKind) -> int:
        return sum(1 for e in self.events if e.kind is kind)

    async def until(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def _link() -> BleakLink:
    return BleakLink(adapter="hci0", retry=FAST_RETRY, attempt_scan_s=1.0, operation_timeout_s=5.0)


@contextlib.asynccontextmanager
async def _running(session: DeviceSession) -> AsyncIterator[None]:
    task = asyncio.create_task(session.run())
    try:
        yield
    finally:
        session.stop()
        async with asyncio.timeout(10):
            await asyncio.gather(task, return_exceptions=True)


def _session(address: str, profile: DeviceProfile, rec: Recorder, **kwargs: Any) -> DeviceSession:
    return DeviceSession(
        _link(), address, profile, rec.payload, on_event=rec.event, timing=TIMING, **kwargs
    )


# -- the tests -----------------------------------------------------------------------------


async def test_scan_finds_devices_by_advertised_service_and_by_name_only(zoo: Zoo) -> None:
    strap, _, _ = await zoo.strap()
    await strap.advertise()
    await zoo.meter()  # advertises its name, no service
    link = _link()
    by_service = await link.find(ScanFilter(service_uuids=frozenset({HRS})), 5.0)
    by_name = await link.find(ScanFilter(name_prefixes=("Meter",)), 5.0)
    assert by_service is not None and by_service.address == STRAP
    assert HRS in by_service.service_uuids
    assert by_name is not None and (by_name.address, by_name.name) == (METER, "Meter GL-50")
    assert await link.find(ScanFilter(service_uuids=frozenset({uuid_of(0x1808)})), 0.6) is None
    everything = await link.scan(ScanFilter(), 0.5)
    assert {adv.address for adv in everything} == {STRAP, METER}


async def test_stream_survives_a_peripheral_side_disconnect_by_reconnecting_and_resubscribing(
    zoo: Zoo,
) -> None:
    strap, hrm, _ = await zoo.strap()
    await strap.advertise()
    rec = Recorder()
    profile = replace(PROFILES[DeviceKind.HEART_RATE_STRAP], silence_timeout_s=5.0)

    async def stream() -> None:
        for beat in range(1, 10_000):  # u16 heart rate as a counter, every 10 ms
            hrm.notify(bytes([0x01]) + beat.to_bytes(2, "little"))
            await asyncio.sleep(0.01)

    streamer = asyncio.create_task(stream())
    try:
        async with _running(_session(STRAP, profile, rec)):
            await rec.until(lambda: len(rec.payloads) >= 5)
            await strap.disconnect_central()  # mid-stream
            await rec.until(lambda: rec.count(EventKind.DISCONNECTED) == 1)
            before = len(rec.payloads)
            await rec.until(lambda: rec.count(EventKind.READY) == 2)
            await rec.until(lambda: len(rec.payloads) >= before + 5)
    finally:
        streamer.cancel()
    beats = [int.from_bytes(p[1:3], "little") for _, _, p, _ in rec.payloads]
    assert beats == sorted(set(beats)), "duplicated or reordered notifications"
    assert hrm.start_count == 2
    assert all(u == HRM and t.utcoffset() == timedelta(0) for _, u, _, t in rec.payloads)
    kinds = [e.kind for e in rec.events if e.kind is not EventKind.STOPPED]
    assert kinds[:5] == [
        EventKind.CONNECTED,
        EventKind.READY,
        EventKind.DISCONNECTED,
        EventKind.CONNECTED,
        EventKind.READY,
    ]


async def test_watchdog_reconnects_a_silent_strap(zoo: Zoo) -> None:
    strap, hrm, _ = await zoo.strap()
    await strap.advertise()
    rec = Recorder()
    profile = replace(PROFILES[DeviceKind.HEART_RATE_STRAP], silence_timeout_s=0.3)
    async with _running(_session(STRAP, profile, rec)):
        await rec.until(lambda: rec.count(EventKind.READY) == 2)
        assert hrm.notify(b"\x00\x48")
        await rec.until(lambda: len(rec.payloads) == 1)
    assert rec.count(EventKind.SILENT) >= 1
    assert hrm.start_count >= 2


async def test_glucose_records_sync_via_racp_without_duplicates_across_reconnects(
    zoo: Zoo,
) -> None:
    meter = await zoo.meter()
    meter.store(1, 2, 3)
    rec, marks = Recorder(), MemoryWatermarks()
    profile = PROFILES[DeviceKind.GLUCOSE_METER].matching(name_prefixes=("Meter GL",))

    def sequences() -> list[int]:
        return [int.from_bytes(p[1:3], "little") for _, u, p, _ in rec.payloads if u == GLUCOSE]

    async with _running(_session(METER, profile, rec, watermarks=marks)):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1 and len(sequences()) == 3)
        meter.store(4, 5)
        await meter.peripheral.disconnect_central()
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 2 and len(sequences()) == 5)
    assert sequences() == [1, 2, 3, 4, 5]
    assert meter.requests == [encode_racp_report_all(), encode_racp_report_from(4)]
    assert marks.values == {METER: 5}
    assert meter.racp.start_count == meter.measurement.start_count == 2


async def test_gatt_operations_on_one_device_run_one_at_a_time(zoo: Zoo) -> None:
    strap, _, bsl = await zoo.strap()
    await strap.advertise()
    bsl.read_delay_s = 0.05
    gone = asyncio.Event()
    conn = await _link().connect(STRAP, on_disconnect=lambda _a: gone.set(), timeout_s=10.0)
    try:
        assert BSL in conn.characteristics
        values = await asyncio.gather(*(conn.read(BSL) for _ in range(4)))
    finally:
        await conn.disconnect()
    assert values == [b"\x01"] * 4
    assert bsl.max_in_flight == 1
    async with asyncio.timeout(5):
        await gone.wait()


async def test_connect_retries_with_backoff_until_the_device_advertises(zoo: Zoo) -> None:
    strap, _, _ = await zoo.strap()
    link = BleakLink(adapter="hci0", retry=FAST_RETRY, attempt_scan_s=0.2)

    async def advertise_later() -> None:
        await asyncio.sleep(0.5)
        await strap.advertise()

    started = time.monotonic()
    strap.spawn(advertise_later())
    conn = await link.connect(STRAP, on_disconnect=lambda _a: None, timeout_s=10.0)
    try:
        assert conn.is_connected
        assert time.monotonic() - started >= 0.5  # found only on a later attempt
    finally:
        await conn.disconnect()


async def test_pairing_unsupported_by_the_backend_raises_a_clear_error() -> None:
    class NoPairingClient:  # what CoreBluetooth's backend does on pair()
        is_connected = True

        async def pair(self) -> None:
            raise NotImplementedError

    conn = BleakConnection(cast(Any, NoPairingClient()), STRAP, asyncio.Lock(), 1.0)
    with pytest.raises(PairingNotSupported, match="operating system's Bluetooth settings"):
        await conn.pair()
