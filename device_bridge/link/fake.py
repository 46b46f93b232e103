"""An in-memory BLE link and scripted peripherals, for fast deterministic tests of sessions.

:class:`FakeLink` implements :class:`~device_bridge.link.port.BleLink` over
:class:`FakePeripheral` objects that behave like real devices where it matters to a session:
subscriptions die with the connection, notifications reach only subscribers, the peripheral
can drop the link or stop advertising, connects can fail, bonded devices refuse CCCD writes
until paired, and control points answer writes asynchronously by indication
(:class:`FakeGlucoseMeter` answers RACP like a Glucose Service meter, :func:`polar_h10` answers
PMD commands).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from device_bridge.gatt.racp import (
    RacpOp,
    RacpOperator,
    RacpResponseCode,
    decode_racp_request,
    encode_racp_response,
)
from device_bridge.link.port import (
    Advertisement,
    CharacteristicNotFound,
    ConnectFailed,
    DeviceNotFound,
    DisconnectHandler,
    GattError,
    NotConnected,
    NotificationHandler,
    PairingNotSupported,
    ScanFilter,
    address_of,
    uuid_of,
)
from device_bridge.polar import PMD_CONTROL_POINT_UUID, PMD_DATA_UUID

WriteScript = Callable[["FakePeripheral", bytes], None]
"""Runs when a characteristic is written; may raise GattError or ``spawn`` the device's answer."""

ATT_INSUFFICIENT_AUTHENTICATION = 0x05
ATT_PROCEDURE_ALREADY_IN_PROGRESS = 0x80
ATT_CCCD_IMPROPERLY_CONFIGURED = 0x81


@dataclass
class FakeCharacteristic:
    """A characteristic: ``properties`` from {"read", "write", "notify", "indicate"}."""

    uuid: str
    properties: frozenset[str]
    value: bytes = b""


class FakePeripheral:
    """A scripted device. Tests drive it (``notify``, ``drop_link``, ``advertising``...) and
    inspect what the central did (``writes``, ``subscribe_log``, ``connect_count``...)."""

    def __init__(
        self,
        address: str,
        characteristics: Iterable[FakeCharacteristic],
        *,
        name: str | None = None,
        advertised_services: Iterable[str | int] = (),
        manufacturer_data: Mapping[int, bytes] | None = None,
        requires_bonding: bool = False,
        pairing_supported: bool = True,
        op_delay_s: float = 0.0,
    ) -> None:
        self.address = address_of(address)
        self.name = name
        self.advertised_services = frozenset(uuid_of(u) for u in advertised_services)
        self.manufacturer_data = dict(manufacturer_data or {})
        self.chars = {c.uuid: c for c in characteristics}
        self.requires_bonding = requires_bonding
        self.pairing_supported = pairing_supported
        self.op_delay_s = op_delay_s
        self.advertising = True
        self.bonded = False
        self.fail_connects = 0
        self.connect_count = 0
        self.writes: list[tuple[str, bytes]] = []
        self.subscribe_log: list[str] = []
        self.max_concurrent_ops = 0
        self._in_flight = 0
        self._scripts: dict[str, WriteScript] = {}
        self._connection: FakeConnection | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def on_write(self, uuid: str | int, script: WriteScript) -> None:
        """Run ``script(self, payload)`` whenever ``uuid`` is written."""
        self._scripts[uuid_of(uuid)] = script

    def advertisement(self) -> Advertisement:
        """What a scan sees of this device."""
        return Advertisement(
            self.address, self.name, self.advertised_services, dict(self.manufacturer_data)
        )

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def subscribed(self, uuid: str | int) -> bool:
        """Whether the current connection has notifications on ``uuid`` enabled."""
        return self._connection is not None and uuid_of(uuid) in self._connection.handlers

    def notify(self, uuid: str | int, payload: bytes) -> bool:
        """Send a notification/indication; True if a subscriber received it."""
        conn, key = self._connection, uuid_of(uuid)
        self.chars[key].value = payload
        if conn is None or key not in conn.handlers:
            return False
        conn.handlers[key](key, bytes(payload))
        return True

    def drop_link(self) -> None:
        """The peripheral ends the connection (switched off, out of range, idle timeout)."""
        if self._connection is not None:
            self._connection.lose()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run the device's asynchronous answer in the background (like its firmware)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @contextlib.asynccontextmanager
    async def _operation(self, conn: FakeConnection) -> AsyncIterator[None]:
        if not conn.is_connected:
            raise NotConnected(self.address, "link is down")
        self._in_flight += 1
        self.max_concurrent_ops = max(self.max_concurrent_ops, self._in_flight)
        try:
            await asyncio.sleep(self.op_delay_s)
            if not conn.is_connected:
                raise NotConnected(self.address, "link lost during the operation")
            yield
        finally:
            self._in_flight -= 1

    def _char(self, uuid: str) -> FakeCharacteristic:
        if uuid not in self.chars:
            raise CharacteristicNotFound(self.address, f"no characteristic {uuid}")
        return self.chars[uuid]


class FakeConnection:
    """One connection to a :class:`FakePeripheral`; implements the port's ``Connection``."""

    def __init__(
        self, peripheral: FakePeripheral, lock: asyncio.Lock, on_disconnect: DisconnectHandler
    ) -> None:
        self._peripheral = peripheral
        self._lock = lock
        self._on_disconnect: DisconnectHandler | None = on_disconnect
        self.handlers: dict[str, NotificationHandler] = {}

    @property
    def address(self) -> str:
        return self._peripheral.address

    @property
    def is_connected(self) -> bool:
        return self._on_disconnect is not None

    @property
    def characteristics(self) -> frozenset[str]:
        return frozenset(self._peripheral.chars)

    async def subscribe(self, characteristic_uuid: str, handler: NotificationHandler) -> None:
        async with self._lock, self._peripheral._operation(self):
            char = self._peripheral._char(characteristic_uuid)
            if not char.properties & {"notify", "indicate"}:
                raise GattError(self.address, f"{characteristic_uuid} cannot notify")
            if self._peripheral.requires_bonding and not self._peripheral.bonded:
                raise GattError(self.address, "CCCD write refused", ATT_INSUFFICIENT_AUTHENTICATION)
            self.handlers[characteristic_uuid] = handler
            self._peripheral.subscribe_log.append(characteristic_uuid)

    async def unsubscribe(self, characteristic_uuid: str) -> None:
        async with self._lock, self._peripheral._operation(self):
            self.handlers.pop(characteristic_uuid, None)

    async def read(self, characteristic_uuid: str) -> bytes:
        async with self._lock, self._peripheral._operation(self):
            return self._peripheral._char(characteristic_uuid).value

    async def write(
        self, characteristic_uuid: str, payload: bytes, *, with_response: bool = True
    ) -> None:
        async with self._lock, self._peripheral._operation(self):
            self._peripheral._char(characteristic_uuid)
            self._peripheral.writes.append((characteristic_uuid, bytes(payload)))
            script = self._peripheral._scripts.get(characteristic_uuid)
            if script is not None:
                script(self._peripheral, bytes(payload))

    async def pair(self) -> None:
        async with self._lock, self._peripheral._operation(self):
            if not self._peripheral.pairing_supported:
                raise PairingNotSupported(self.address, "this stack cannot pair on request")
            self._peripheral.bonded = True

    async def disconnect(self) -> None:
        self.lose()

    def lose(self) -> None:
        """End this connection from either side; fires the disconnect handler once."""
        handler, self._on_disconnect = self._on_disconnect, None
        self.handlers.clear()
        if self._peripheral._connection is self:
            self._peripheral._connection = None
        if handler is not None:
            handler(self.address)


class FakeLink:
    """The fake radio: scans see advertising peripherals, connects reach them."""

    def __init__(self, *peripherals: FakePeripheral) -> None:
        self.peripherals = {p.address: p for p in peripherals}
        self._locks: dict[str, asyncio.Lock] = {}

    def add(self, peripheral: FakePeripheral) -> None:
        self.peripherals[peripheral.address] = peripheral

    def _visible(self, scan_filter: ScanFilter) -> list[Advertisement]:
        ads = (p.advertisement() for p in self.peripherals.values() if p.advertising)
        return [ad for ad in ads if scan_filter.matches(ad)]

    async def scan(self, scan_filter: ScanFilter, timeout_s: float) -> list[Advertisement]:
        await asyncio.sleep(0)
        return self._visible(scan_filter)

    async def find(self, scan_filter: ScanFilter, timeout_s: float) -> Advertisement | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            if found := self._visible(scan_filter):
                return found[0]
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(min(0.005, timeout_s))

    async def connect(
        self, address: str, *, on_disconnect: DisconnectHandler, timeout_s: float = 30.0
    ) -> FakeConnection:
        await asyncio.sleep(0)
        peripheral = self.peripherals.get(address_of(address))
        if peripheral is None or not peripheral.advertising:
            raise DeviceNotFound(address_of(address), "not advertising")
        if peripheral.fail_connects > 0:
            peripheral.fail_connects -= 1
            raise ConnectFailed(peripheral.address, "scripted connect failure")
        if peripheral._connection is not None:
            raise ConnectFailed(peripheral.address, "already connected")
        lock = self._locks.setdefault(peripheral.address, asyncio.Lock())
        conn = FakeConnection(peripheral, lock, on_disconnect)
        peripheral._connection = conn
        peripheral.connect_count += 1
        return conn


RACP_UUID = uuid_of(0x2A52)
GLUCOSE_MEASUREMENT_UUID = uuid_of(0x2A18)


class FakeGlucoseMeter(FakePeripheral):
    """A Glucose Service meter with stored records, answering RACP "report" requests.

    Records go out as 0x2A18 notifications, then ``06 00 01 <code>`` by indication. A request
    written while one is running fails with ATT error 0x80, and one written before 0x2A18 and
    0x2A52 are subscribed fails with 0x81, as the GLS spec requires.
    ``honor_filter=False`` models a sloppy meter that resends every record whatever was asked.
    """

    def __init__(self, address: str, *, name: str = "Glucose meter", **kwargs: Any) -> None:
        chars = [
            FakeCharacteristic(GLUCOSE_MEASUREMENT_UUID, frozenset({"notify"})),
            FakeCharacteristic(uuid_of(0x2A34), frozenset({"notify"})),
            FakeCharacteristic(uuid_of(0x2A51), frozenset({"read"}), b"\x00\x00"),
            FakeCharacteristic(RACP_UUID, frozenset({"write", "indicate"})),
        ]
        super().__init__(address, chars, name=name, **kwargs)
        self.records: dict[int, bytes] = {}
        self.honor_filter = True
        self.busy = False
        self.on_write(RACP_UUID, lambda _device, payload: self._racp(payload))

    def store(self, sequence_number: int, payload: bytes) -> None:
        """Keep a record (the 0x2A18 payload) in the meter's memory."""
        self.records[sequence_number] = payload

    def _selected(self, operator: RacpOperator, operand: tuple[int, ...]) -> list[int]:
        seqs = sorted(self.records)
        if self.honor_filter and operator == RacpOperator.GREATER_OR_EQUAL:
            return [s for s in seqs if s >= operand[0]]
        return seqs

    def _racp(self, payload: bytes) -> None:
        if self.busy:
            raise GattError(self.address, "RACP busy", ATT_PROCEDURE_ALREADY_IN_PROGRESS)
        if not (self.subscribed(RACP_UUID) and self.subscribed(GLUCOSE_MEASUREMENT_UUID)):
            raise GattError(self.address, "subscribe first", ATT_CCCD_IMPROPERLY_CONFIGURED)
        request = decode_racp_request(payload)
        if request.op != RacpOp.REPORT_RECORDS:
            self.spawn(self._answer([], request.op, RacpResponseCode.OP_CODE_NOT_SUPPORTED))
            return
        selected = self._selected(request.operator, request.sequence_numbers)
        code = RacpResponseCode.SUCCESS if selected else RacpResponseCode.NO_RECORDS_FOUND
        self.busy = True
        self.spawn(self._answer(selected, request.op, code))

    async def _answer(self, seqs: list[int], op: int, code: RacpResponseCode) -> None:
        try:
            for seq in seqs:
                await asyncio.sleep(0)  # records trickle in, interleaved with anything else
                if not self.notify(GLUCOSE_MEASUREMENT_UUID, self.records[seq]):
                    return  # link lost or unsubscribed mid-transfer: the procedure dies
            await asyncio.sleep(0)
            self.notify(RACP_UUID, encode_racp_response(op, code))
        finally:
            self.busy = False


def heart_rate_strap(address: str, *, name: str = "HR strap") -> FakePeripheral:
    """A Heart Rate Service strap that advertises 0x180D."""
    chars = [
        FakeCharacteristic(uuid_of(0x2A37), frozenset({"notify"})),
        FakeCharacteristic(uuid_of(0x2A38), frozenset({"read"}), b"\x01"),
    ]
    return FakePeripheral(address, chars, name=name, advertised_services=[0x180D])


def polar_h10(address: str, *, name: str = "Polar H10 1A2B3C4D") -> FakePeripheral:
    """A Polar H10: HRS plus PMD; answers every control-point command with success."""
    chars = [
        FakeCharacteristic(uuid_of(0x2A37), frozenset({"notify"})),
        FakeCharacteristic(PMD_CONTROL_POINT_UUID, frozenset({"read", "write", "indicate"})),
        FakeCharacteristic(PMD_DATA_UUID, frozenset({"notify"})),
    ]
    strap = FakePeripheral(address, chars, name=name, advertised_services=[0x180D])

    def answer(device: FakePeripheral, command: bytes) -> None:
        async def indicate() -> None:
            await asyncio.sleep(0)
            device.notify(PMD_CONTROL_POINT_UUID, bytes([0xF0, command[0], command[1], 0, 0]))

        device.spawn(indicate())

    strap.on_write(PMD_CONTROL_POINT_UUID, answer)
    return strap
