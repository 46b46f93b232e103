"""The BLE port: what the bridge needs from a Bluetooth LE stack, and nothing else.

Two implementations exist side by side: :mod:`device_bridge.link.bleak_link` (the real stack,
the only module that imports bleak) and :mod:`device_bridge.link.fake` (a scripted peripheral
for fast tests). Device sessions (:mod:`device_bridge.link.session`) are written against this
port only.

Conventions of the port:

* characteristic and service UUIDs are full 128-bit lower-case strings (:func:`uuid_of` turns
  ``0x2A37`` or ``"2a37"`` into one); device addresses are upper case;
* payloads are :class:`bytes` exactly as received or to be written, never parsed here;
* handlers are plain callables run on the event loop: they must return quickly;
* a link runs at most one GATT operation at a time per device (read, write, subscribe,
  unsubscribe, pair), so callers may issue operations concurrently; a *procedure* that spans a
  write and the indication answering it is the caller's to serialize.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from device_bridge.gatt.uuids import characteristic_id, sig_uuid

T = TypeVar("T")

NotificationHandler = Callable[[str, bytes], None]
"""Called for every notification or indication: ``(characteristic_uuid, payload)``."""

DisconnectHandler = Callable[[str], None]
"""Called once when a connection ends, whoever ended it: ``(device_address)``."""


def uuid_of(uuid: str | int) -> str:
    """The full lower-case 128-bit UUID of a 16-bit SIG number (int or 4 hex digits) or a UUID."""
    if isinstance(uuid, int) or len(uuid.strip().removeprefix("0x")) <= 4:
        return sig_uuid(characteristic_id(uuid))
    return uuid.strip().lower()


def address_of(address: str) -> str:
    """A device address in the port's spelling (upper case)."""
    return address.strip().upper()


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One device as a scan saw it. ``manufacturer_data`` maps company id to its bytes."""

    address: str
    name: str | None = None
    service_uuids: frozenset[str] = frozenset()
    manufacturer_data: Mapping[int, bytes] = field(default_factory=dict)
    rssi_dbm: int | None = None


@dataclass(frozen=True, slots=True)
class ScanFilter:
    """Which advertisements to accept.

    A device matches when its address equals ``address`` (if given) and it shows any one of the
    listed service UUIDs, local-name prefixes or manufacturer ids; with none of those listed,
    every device (at that address) matches. Names and manufacturer data matter because many BP
    cuffs, scales and glucose meters advertise no service at all.
    """

    service_uuids: frozenset[str] = frozenset()
    name_prefixes: tuple[str, ...] = ()
    manufacturer_ids: frozenset[int] = frozenset()
    address: str | None = None

    def matches(self, adv: Advertisement) -> bool:
        """Whether ``adv`` passes this filter."""
        if self.address is not None and address_of(adv.address) != address_of(self.address):
            return False
        if not (self.service_uuids or self.name_prefixes or self.manufacturer_ids):
            return True
        name = adv.name or ""
        return (
            bool(self.service_uuids & {uuid_of(u) for u in adv.service_uuids})
            or any(name.startswith(prefix) for prefix in self.name_prefixes)
            or bool(self.manufacturer_ids & adv.manufacturer_data.keys())
        )

    @property
    def services_only(self) -> bool:
        """True when only service UUIDs decide, so a stack may filter in the controller."""
        return bool(self.service_uuids) and not (self.name_prefixes or self.manufacturer_ids)

    def at(self, address: str) -> ScanFilter:
        """The same filter restricted to one device."""
        return replace(self, address=address_of(address))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: try ``attempts`` times, waiting ``initial_delay_s * factor**n``
    (at most ``max_delay_s``, spread by +/- ``jitter`` as a fraction) before retry ``n + 1``."""

    attempts: int = 4
    initial_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 30.0
    jitter: float = 0.2

    def delay_s(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0 = the first retry)."""
        base = min(self.max_delay_s, self.initial_delay_s * self.factor**retry)
        if not self.jitter:
            return base
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))


async def with_retries(
    attempt: Callable[[int], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retry_on: tuple[type[BaseException], ...],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await ``attempt(0)``, ``attempt(1)``, ... until one returns, backing off per ``policy``.

    Only exceptions in ``retry_on`` are retried; the last one is re-raised after
    ``policy.attempts`` tries. Returns what the successful attempt returned.
    """
    for n in range(max(1, policy.attempts)):
        try:
            return await attempt(n)
        except retry_on:
            if n + 1 >= policy.attempts:
                raise
        await sleep(policy.delay_s(n))
    raise AssertionError("unreachable")  # pragma: no cover


class LinkError(Exception):
    """A BLE operation failed; ``address`` names the device (empty for adapter-wide errors)."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(f"{address or 'adapter'}: {message}")
        self.address = address


class DeviceNotFound(LinkError):
    """No matching device advertised within the time allowed."""


class ConnectFailed(LinkError):
    """Connecting failed after every retry."""


class NotConnected(LinkError):
    """The operation needs a live connection and the link is down."""


class CharacteristicNotFound(LinkError):
    """The device has no characteristic with that UUID."""


class LinkTimeout(LinkError):
    """An operation did not finish in time."""


class GattError(LinkError):
    """The device answered with an ATT error (e.g. 0x05 insufficient authentication,
    0x80 procedure already in progress, 0x81 CCCD improperly configured)."""

    def __init__(self, address: str, message: str, att_error: int | None = None) -> None:
        super().__init__(address, message)
        self.att_error = att_error


class PairingNotSupported(LinkError):
    """This platform's BLE stack cannot pair on request (macOS pairs implicitly, on the
    first encrypted access); pair the device with the operating system's tools instead."""


class PairingFailed(LinkError):
    """The stack supports pairing but this attempt failed (on BlueZ usually: no pairing agent
    registered, or the device was not in pairing mode)."""


class Connection(Protocol):
    """A live connection to one device. Every method raises :class:`LinkError` subclasses."""

    @property
    def address(self) -> str:
        """The device address (upper case)."""
        ...

    @property
    def is_connected(self) -> bool:
        """False once the link is down, whoever ended it."""
        ...

    @property
    def characteristics(self) -> frozenset[str]:
        """UUIDs of every characteristic the device exposes."""
        ...

    async def subscribe(self, characteristic_uuid: str, handler: NotificationHandler) -> None:
        """Enable notifications or indications (whichever the characteristic has) and deliver
        each payload to ``handler``. Subscriptions end with the connection."""
        ...

    async def unsubscribe(self, characteristic_uuid: str) -> None:
        """Disable notifications or indications."""
        ...

    async def read(self, characteristic_uuid: str) -> bytes:
        """Read the characteristic's value."""
        ...

    async def write(
        self, characteristic_uuid: str, payload: bytes, *, with_response: bool = True
    ) -> None:
        """Write ``payload``; control points (RACP, Polar PMD) need ``with_response=True``."""
        ...

    async def pair(self) -> None:
        """Pair and bond (a no-op when already bonded). Raises :class:`PairingNotSupported`
        where the stack cannot pair on request, :class:`PairingFailed` when pairing fails."""
        ...

    async def disconnect(self) -> None:
        """End the connection (idempotent); the disconnect handler still fires."""
        ...


class BleLink(Protocol):
    """The radio: scanning and connecting. One instance per adapter, used from one loop."""

    async def scan(self, scan_filter: ScanFilter, timeout_s: float) -> list[Advertisement]:
        """Scan for ``timeout_s`` seconds; return each matching device once (last seen)."""
        ...

    async def find(self, scan_filter: ScanFilter, timeout_s: float) -> Advertisement | None:
        """Scan until the first matching device, or None after ``timeout_s`` seconds."""
        ...

    async def connect(
        self, address: str, *, on_disconnect: DisconnectHandler, timeout_s: float = 30.0
    ) -> Connection:
        """Connect (retrying with backoff) to a device seen by a scan, or found by a short
        scan for its address. ``on_disconnect`` fires once when this connection ends.
        Raises :class:`DeviceNotFound` or :class:`ConnectFailed`."""
        ...
