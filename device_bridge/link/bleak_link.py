"""The BLE port on bleak: the ONLY module of the project that imports bleak.

What it adds to bleak, following the project's robust-bleak notes (ble-gatt.md §4):

* scans filter in our own code (:meth:`ScanFilter.matches`), because many monitors advertise
  only a name or manufacturer data; the service list goes down to BlueZ only when it alone
  decides;
* the :class:`BLEDevice` a scan saw is kept and handed to the client (an address string
  makes bleak scan again, which breaks when several devices connect at once);
* connecting retries with exponential backoff (:class:`RetryPolicy`), each attempt through
  ``bleak_retry_connector.establish_connection``, which clears stale BlueZ connections and
  retries the transient BlueZ errors it knows; a new client per connection, never reused;
* one asyncio.Lock per device serializes GATT operations (BlueZ answers overlapping ones
  with ``InProgress``), and every operation has a timeout;
* bleak's exceptions become the port's :class:`LinkError` subclasses, pairing included:
  :class:`PairingNotSupported` where the backend cannot pair on request (CoreBluetooth),
  :class:`PairingFailed` with a hint when BlueZ has no agent to answer the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from bleak import BleakClient, BleakScanner
from bleak.args.bluez import BlueZScannerArgs
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback
from bleak.exc import (
    BleakCharacteristicNotFoundError,
    BleakDBusError,
    BleakError,
    BleakGATTProtocolError,
)
from bleak_retry_connector import establish_connection

from device_bridge.link.port import (
    Advertisement,
    CharacteristicNotFound,
    ConnectFailed,
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
    address_of,
    uuid_of,
    with_retries,
)

log = logging.getLogger(__name__)

DEFAULT_RETRY = RetryPolicy(attempts=4, initial_delay_s=0.5, factor=2.0, max_delay_s=8.0)

# Errors a D-Bus transport raises when the bus connection dies under an operation.
_TRANSPORT_ERRORS = (BleakError, EOFError, BrokenPipeError, ConnectionError)


def _advertisement(device: BLEDevice, data: AdvertisementData) -> Advertisement:
    return Advertisement(
        address=address_of(device.address),
        name=data.local_name or device.name,
        service_uuids=frozenset(uuid_of(u) for u in data.service_uuids),
        manufacturer_data=dict(data.manufacturer_data),
        rssi_dbm=data.rssi,
    )


def _att_error(exc: BleakDBusError) -> int | None:
    """The ATT error code BlueZ put in the error text ("... ATT error: 0x80"), if any."""
    details = str(exc.args[1]) if len(exc.args) > 1 else ""
    if "ATT error: 0x" not in details:
        return None
    with contextlib.suppress(ValueError):
        return int(details.rsplit("0x", 1)[1][:2], 16)
    return None


def translate(address: str, exc: BaseException, doing: str) -> LinkError:
    """The port's exception for a bleak (or D-Bus transport) error raised while ``doing``."""
    if isinstance(exc, LinkError):
        return exc
    if isinstance(exc, TimeoutError):
        return LinkTimeout(address, f"{doing} timed out")
    if isinstance(exc, BleakCharacteristicNotFoundError):
        return CharacteristicNotFound(address, f"{doing}: {exc}")
    if isinstance(exc, BleakGATTProtocolError):
        return GattError(address, f"{doing}: {exc}", int(exc.code))
    if isinstance(exc, BleakDBusError):
        return GattError(
            address, f"{doing}: {exc.dbus_error} {exc.dbus_error_details}", _att_error(exc)
        )
    return LinkError(address, f"{doing}: {type(exc).__name__}: {exc}")


class BleakConnection:
    """One bleak client, wrapped as the port's ``Connection``."""

    def __init__(
        self, client: BleakClient, address: str, lock: asyncio.Lock, operation_timeout_s: float
    ) -> None:
        self._client = client
        self._address = address
        self._lock = lock
        self._timeout_s = operation_timeout_s

    @property
    def address(self) -> str:
        return self._address

    @property
    def is_connected(self) -> bool:
        return bool(self._client.is_connected)

    @property
    def characteristics(self) -> frozenset[str]:
        if not self.is_connected:
            return frozenset()
        services = self._client.services
        return frozenset(uuid_of(c.uuid) for s in services for c in s.characteristics)

    @contextlib.asynccontextmanager
    async def _operation(self, doing: str) -> AsyncIterator[None]:
        async with self._lock:
            if not self.is_connected:
                raise NotConnected(self._address, f"{doing}: not connected")
            try:
                async with asyncio.timeout(self._timeout_s):
                    yield
            except (*_TRANSPORT_ERRORS, TimeoutError) as exc:
                if not self.is_connected and not isinstance(exc, TimeoutError):
                    raise NotConnected(self._address, f"{doing}: link lost ({exc})") from exc
                raise translate(self._address, exc, doing) from exc

    async def subscribe(self, characteristic_uuid: str, handler: NotificationHandler) -> None:
        def deliver(_char: BleakGATTCharacteristic, data: bytearray) -> None:
            handler(characteristic_uuid, bytes(data))

        async with self._operation(f"subscribe {characteristic_uuid}"):
            await self._client.start_notify(characteristic_uuid, deliver)

    async def unsubscribe(self, characteristic_uuid: str) -> None:
        async with self._operation(f"unsubscribe {characteristic_uuid}"):
            await self._client.stop_notify(characteristic_uuid)

    async def read(self, characteristic_uuid: str) -> bytes:
        async with self._operation(f"read {characteristic_uuid}"):
            return bytes(await self._client.read_gatt_char(characteristic_uuid))

    async def write(
        self, characteristic_uuid: str, payload: bytes, *, with_response: bool = True
    ) -> None:
        async with self._operation(f"write {characteristic_uuid}"):
            await self._client.write_gatt_char(characteristic_uuid, payload, response=with_response)

    async def pair(self) -> None:
        try:
            async with self._operation("pair"):
                await self._client.pair()
        except NotImplementedError as exc:
            raise PairingNotSupported(
                self._address,
                "this platform's BLE stack cannot pair on request; pair the device with the "
                "operating system's Bluetooth settings",
            ) from exc
        except GattError as exc:
            hint = " (BlueZ has no pairing agent: pair once with bluetoothctl)"
            hint = hint if "AuthenticationFailed" in str(exc) else ""
            raise PairingFailed(self._address, f"pairing failed: {exc}{hint}") from exc

    async def disconnect(self) -> None:
        # Not under the lock: a hung operation must not keep the link up.
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.disconnect()
        except (*_TRANSPORT_ERRORS, TimeoutError) as exc:
            log.warning("%s: disconnect failed: %s", self._address, exc)


class BleakLink:
    """The port's ``BleLink`` on bleak. One per adapter (``adapter="hci0"`` on Linux, None
    for the default), used from a single event loop."""

    def __init__(
        self,
        *,
        adapter: str | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        attempt_scan_s: float = 5.0,
        operation_timeout_s: float = 20.0,
    ) -> None:
        self._bluez: BlueZScannerArgs = {"adapter": adapter} if adapter else {}
        self._retry = retry
        self._attempt_scan_s = attempt_scan_s
        self._operation_timeout_s = operation_timeout_s
        self._devices: dict[str, BLEDevice] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._scan_lock = asyncio.Lock()  # one discovery per adapter at a time

    def _scanner(self, scan_filter: ScanFilter, seen: AdvertisementDataCallback) -> BleakScanner:
        services = sorted(scan_filter.service_uuids) if scan_filter.services_only else None
        return BleakScanner(seen, service_uuids=services, bluez=self._bluez)

    async def _watch(
        self, scan_filter: ScanFilter, timeout_s: float, first: bool
    ) -> list[Advertisement]:
        found: dict[str, Advertisement] = {}
        hit = asyncio.Event()

        def seen(device: BLEDevice, data: AdvertisementData) -> None:
            adv = _advertisement(device, data)
            if scan_filter.matches(adv):
                self._devices[adv.address] = device
                found[adv.address] = adv
                hit.set()

        async with self._scan_lock, self._scanner(scan_filter, seen):
            if first:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hit.wait(), timeout_s)
            else:
                await asyncio.sleep(timeout_s)  # a scan window is a duration, not an event
        return list(found.values())

    async def scan(self, scan_filter: ScanFilter, timeout_s: float) -> list[Advertisement]:
        """Scan for ``timeout_s`` seconds; return each matching device once."""
        try:
            return await self._watch(scan_filter, timeout_s, first=False)
        except _TRANSPORT_ERRORS as exc:
            raise translate("", exc, "scan") from exc

    async def find(self, scan_filter: ScanFilter, timeout_s: float) -> Advertisement | None:
        """Scan until the first matching device, or None after ``timeout_s`` seconds."""
        try:
            found = await self._watch(scan_filter, timeout_s, first=True)
        except _TRANSPORT_ERRORS as exc:
            raise translate("", exc, "scan") from exc
        return found[0] if found else None

    async def connect(
        self, address: str, *, on_disconnect: DisconnectHandler, timeout_s: float = 30.0
    ) -> BleakConnection:
        """Connect with retries and exponential backoff; see the port's ``BleLink.connect``."""
        key = address_of(address)

        async def attempt(n: int) -> BleakClient:
            device = self._devices.get(key)
            if device is None and await self.find(ScanFilter(address=key), self._attempt_scan_s):
                device = self._devices.get(key)
            if device is None:
                raise DeviceNotFound(key, f"not advertising (attempt {n + 1})")
            try:
                async with asyncio.timeout(timeout_s):
                    return await establish_connection(
                        BleakClient,
                        device,
                        device.name or key,
                        disconnected_callback=lambda _client: on_disconnect(key),
                        max_attempts=1,
                    )
            except (*_TRANSPORT_ERRORS, TimeoutError) as exc:
                self._devices.pop(key, None)  # maybe stale (address rotated): scan afresh
                log.info("%s: connect attempt %d failed: %s", key, n + 1, exc)
                raise ConnectFailed(key, f"attempt {n + 1}: {type(exc).__name__}: {exc}") from exc

        client = await with_retries(attempt, self._retry, retry_on=(DeviceNotFound, ConnectFailed))
        lock = self._locks.setdefault(key, asyncio.Lock())
        return BleakConnection(client, key, lock, self._operation_timeout_s)
