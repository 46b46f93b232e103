"""One device kept connected, above the BLE port and independent of bleak.

A :class:`DeviceSession` finds its device, connects, pairs when the profile needs bonding,
subscribes first thing (stored readings may be pushed the moment a CCCD is written), runs the
profile's on-connect procedure (RACP sync for glucose meters, ECG start for a Polar H10), and
then watches: a disconnect, or silence on a streaming characteristic for longer than the
profile allows, ends the connection and the session reconnects with exponential backoff,
subscribing again every time.

Every payload goes upward as raw bytes with its receive time: ``on_payload(address,
characteristic_uuid, payload, received_at)``. The callee stores the bytes durably before
returning (the outbox does that, before any parsing); control-point indications (RACP, PMD)
are consumed here and not handed up.

Glucose records are pulled with RACP "report records >= watermark + 1", where the watermark
is the highest sequence number already handed up (kept in a :class:`WatermarkStore`). A record
at or below it is a duplicate and is dropped, whether a sloppy meter resent it or a sync was
cut by a disconnect, so a sync never produces duplicates. The watermark advances only after
``on_payload`` returned; when it raises, later records are held back until the next sync,
which pulls the failed record and its successors again. Limitation: a
meter whose counter restarted (battery change, reset) needs the dedupe by (sequence, base
time, bytes) described in ble-gatt.md, which belongs downstream of the outbox.

The profile table is :mod:`device_bridge.link.profiles`, the watermark store
:mod:`device_bridge.link.watermarks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from device_bridge.gatt.errors import MalformedPayload
from device_bridge.gatt.racp import decode_racp_response, encode_racp_sync_request
from device_bridge.link.port import (
    BleLink,
    CharacteristicNotFound,
    Connection,
    DeviceNotFound,
    LinkError,
    NotConnected,
    PairingNotSupported,
    RetryPolicy,
    address_of,
)
from device_bridge.link.profiles import GLUCOSE, GLUCOSE_CONTEXT, RACP, DeviceProfile, OnConnect
from device_bridge.link.watermarks import MemoryWatermarks, WatermarkStore
from device_bridge.polar import (
    PMD_CONTROL_POINT_UUID,
    START_ECG,
    decode_control_point_response,
)
from telemed_core.values import utc_now

log = logging.getLogger(__name__)


CONTROL_POINTS = frozenset({RACP, PMD_CONTROL_POINT_UUID})
PMD_ALREADY_IN_STATE = 6


class EventKind(StrEnum):
    CONNECTED = "connected"
    READY = "ready"  # paired (if needed) and subscribed
    SYNCED = "synced"
    ECG_STARTED = "ecg_started"
    PROCEDURE_FAILED = "procedure_failed"
    SILENT = "silent"  # the watchdog fired
    DISCONNECTED = "disconnected"
    ERROR = "error"  # a connection attempt or a connection failed; the session retries
    FAILED = "failed"  # a setup problem no retry can fix; run() raises
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """Something that happened to a session, for status screens, logs and tests."""

    address: str
    kind: EventKind
    at: datetime
    detail: str = ""


PayloadHandler = Callable[[str, str, bytes, datetime], object]
"""``(device_address, characteristic_uuid, payload, received_at)``: store the raw bytes."""


@dataclass(frozen=True, slots=True)
class SessionTiming:
    """Time limits in seconds, and the backoff between connections."""

    scan_timeout_s: float = 30.0
    connect_timeout_s: float = 30.0
    procedure_timeout_s: float = 30.0
    disconnect_timeout_s: float = 5.0
    # A session never gives up, so ``attempts`` is unused; the delays grow per failure.
    reconnect: RetryPolicy = RetryPolicy(attempts=0, initial_delay_s=1.0, max_delay_s=60.0)


def _record_sequence(uuid: str, payload: bytes) -> int | None:
    """Sequence number of a glucose measurement or context (``flags u8 | seq u16 | ...``)."""
    if uuid in (GLUCOSE, GLUCOSE_CONTEXT) and len(payload) >= 3:
        return int.from_bytes(payload[1:3], "little")
    return None


class _Live:
    """State of one connection; a late callback from an old connection touches only this."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.gone = asyncio.Event()
        self.wake = asyncio.Event()  # set by stream activity and by the link going down
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.fresh: set[int] = set()  # record sequence numbers handed up on this connection
        self.held_from: int | None = None  # first record that could not be stored
        self.streams: frozenset[str] = frozenset()
        self.conn: Connection | None = None

    def connection(self) -> Connection:
        if self.conn is None or self.gone.is_set():
            raise NotConnected(self.address, "not connected")
        return self.conn

    def lost(self) -> None:
        self.gone.set()
        self.wake.set()
        for waiter in self.pending.values():
            if not waiter.done():
                waiter.set_exception(NotConnected(self.address, "link lost during a procedure"))


class DeviceSession:
    """Keeps one device connected and its bytes flowing upward, until :meth:`stop`."""

    def __init__(
        self,
        link: BleLink,
        address: str,
        profile: DeviceProfile,
        on_payload: PayloadHandler,
        *,
        watermarks: WatermarkStore | None = None,
        on_event: Callable[[SessionEvent], None] | None = None,
        timing: SessionTiming = SessionTiming(),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.address = address_of(address)
        self.profile = profile
        self.duplicates_dropped = 0
        self._link = link
        self._on_payload = on_payload
        self._watermarks = watermarks if watermarks is not None else MemoryWatermarks()
        self._on_event = on_event
        self._timing = timing
        self._clock = clock
        self._watermark = self._watermarks.load(self.address)
        self._procedure_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._live: _Live | None = None

    @property
    def watermark(self) -> int | None:
        """Highest record sequence number handed upward (None before the first)."""
        return self._watermark

    @property
    def connected(self) -> bool:
        return self._live is not None and not self._live.gone.is_set()

    def stop(self) -> None:
        """Ask :meth:`run` to disconnect and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, serve, reconnect with backoff, until :meth:`stop` (or cancellation).

        Raises :class:`PairingNotSupported` after reporting it as FAILED: the device needs a
        bond this stack cannot make, and no retry will change that.
        """
        failures = 0
        try:
            while not self._stopping.is_set():
                try:
                    await self._until_stopped(self._connect_and_serve())
                    failures = 0
                except PairingNotSupported as exc:
                    self._emit(EventKind.FAILED, str(exc))
                    raise
                except LinkError as exc:
                    failures += 1
                    self._emit(EventKind.ERROR, f"{type(exc).__name__}: {exc}")
                await self._pause(self._timing.reconnect.delay_s(max(0, failures - 1)))
        finally:
            self._emit(EventKind.STOPPED)

    async def sync_now(self) -> None:
        """Pull stored records above the watermark now (e.g. a kiosk's sync button).

        Waits for a running procedure first. Raises :class:`NotConnected`, other
        :class:`LinkError` subclasses, or TimeoutError when the meter does not answer.
        """
        live = self._live
        if live is None or live.gone.is_set():
            raise NotConnected(self.address, "not connected")
        if self.profile.on_connect is not OnConnect.RACP_SYNC:
            raise ValueError(f"a {self.profile.kind} has no stored records to sync")
        await self._racp_sync(live)

    async def _until_stopped(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if not task.cancelled():
            task.result()

    async def _pause(self, delay_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay_s)

    async def _connect_and_serve(self) -> None:
        timing = self._timing
        scan = self.profile.scan_filter.at(self.address)
        if await self._link.find(scan, timing.scan_timeout_s) is None:
            raise DeviceNotFound(self.address, f"no {self.profile.kind} advertising")
        live = _Live(self.address)
        conn = await self._link.connect(
            self.address, on_disconnect=lambda _a: live.lost(), timeout_s=timing.connect_timeout_s
        )
        live.conn, self._live = conn, live
        try:
            self._emit(EventKind.CONNECTED)
            if self.profile.needs_bonding:
                await conn.pair()
            subscribed = await self._subscribe(live, conn)
            self._emit(EventKind.READY, f"subscribed to {len(subscribed)} characteristics")
            await self._on_connect(live)
            await self._watch(live)
        finally:
            self._live = None
            if conn.is_connected:
                with contextlib.suppress(LinkError, TimeoutError):
                    async with asyncio.timeout(timing.disconnect_timeout_s):
                        await conn.disconnect()
            self._emit(EventKind.DISCONNECTED)

    async def _subscribe(self, live: _Live, conn: Connection) -> tuple[str, ...]:
        present = conn.characteristics
        missing = [uuid for uuid in self.profile.required if uuid not in present]
        if missing:
            raise CharacteristicNotFound(self.address, f"{self.profile.kind} lacks {missing}")
        wanted = self.profile.required + tuple(u for u in self.profile.optional if u in present)
        if not wanted:
            raise CharacteristicNotFound(self.address, f"nothing a {self.profile.kind} has")

        def handler(uuid: str, payload: bytes) -> None:
            self._on_notification(live, uuid, payload)

        for uuid in wanted:
            await conn.subscribe(uuid, handler)
        live.streams = self.profile.streams & frozenset(wanted)
        return wanted

    def _on_notification(self, live: _Live, uuid: str, payload: bytes) -> None:
        received_at = self._clock()
        if uuid in live.streams:
            live.wake.set()
        if uuid in CONTROL_POINTS:
            waiter = live.pending.get(uuid)
            if waiter is not None and not waiter.done():
                waiter.set_result(payload)
            else:
                log.info("%s: unsolicited %s indication %s", self.address, uuid, payload.hex())
            return
        sequence = _record_sequence(uuid, payload)
        if sequence is not None:
            if live.held_from is not None and sequence >= live.held_from:
                return  # the next sync pulls it again, after the record that failed
            if not self._is_new(live, uuid, sequence):
                self.duplicates_dropped += 1
                return
        try:
            self._on_payload(self.address, uuid, payload, received_at)
        except Exception:
            log.exception("%s: on_payload failed for %s %s", self.address, uuid, payload.hex())
            if sequence is not None and uuid == GLUCOSE:
                # Not stored: hold the watermark here; handing up later records now would
                # leave a gap that the next sync (>= watermark + 1) fills with duplicates.
                live.held_from = sequence
            return
        if sequence is not None and uuid == GLUCOSE:
            live.fresh.add(sequence)
            self._advance(sequence)

    def _is_new(self, live: _Live, uuid: str, sequence: int) -> bool:
        if uuid == GLUCOSE_CONTEXT:  # follows its measurement: new only if that one was
            return sequence in live.fresh
        return self._watermark is None or sequence > self._watermark

    def _advance(self, sequence: int) -> None:
        self._watermark = sequence
        try:
            self._watermarks.save(self.address, sequence)
        except Exception:
            log.exception("%s: could not persist watermark %d", self.address, sequence)

    async def _on_connect(self, live: _Live) -> None:
        try:
            if self.profile.on_connect is OnConnect.RACP_SYNC:
                await self._racp_sync(live)
            elif self.profile.on_connect is OnConnect.POLAR_ECG:
                await self._start_ecg(live)
        except (LinkError, TimeoutError, MalformedPayload) as exc:
            if not live.gone.is_set():  # a lost link is reported as DISCONNECTED instead
                self._emit(EventKind.PROCEDURE_FAILED, f"{type(exc).__name__}: {exc}")

    async def _procedure(
        self, live: _Live, control_point: str, request: Callable[[], bytes]
    ) -> bytes:
        """Write a control-point request and await the indication answering it. One procedure
        at a time per device: a second RACP request during a transfer gets ATT error 0x80.
        ``request`` is built under the lock, so it sees the state the previous one left."""
        async with self._procedure_lock:
            conn = live.connection()
            answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            live.pending[control_point] = answer
            try:
                await conn.write(control_point, request(), with_response=True)
                async with asyncio.timeout(self._timing.procedure_timeout_s):
                    return await answer
            finally:
                live.pending.pop(control_point, None)

    async def _racp_sync(self, live: _Live) -> None:
        def request() -> bytes:
            live.held_from = None
            return encode_racp_sync_request(self._watermark)

        raw = await self._procedure(live, RACP, request)
        response = decode_racp_response(raw)
        if response.succeeded or response.no_records_found:
            self._emit(EventKind.SYNCED, f"watermark {self._watermark}")
        else:
            self._emit(EventKind.PROCEDURE_FAILED, f"RACP response code {response.response_code}")

    async def _start_ecg(self, live: _Live) -> None:
        raw = await self._procedure(live, PMD_CONTROL_POINT_UUID, lambda: START_ECG)
        response = decode_control_point_response(raw)
        if response.succeeded or response.status == PMD_ALREADY_IN_STATE:
            self._emit(EventKind.ECG_STARTED)
        else:
            self._emit(EventKind.PROCEDURE_FAILED, f"PMD start ECG: {response.status_name}")

    async def _watch(self, live: _Live) -> None:
        timeout_s = self.profile.silence_timeout_s if live.streams else None
        while not live.gone.is_set():
            live.wake.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await live.wake.wait()
            except TimeoutError:
                self._emit(EventKind.SILENT, f"no notification for {timeout_s} s")
                return

    def _emit(self, kind: EventKind, detail: str = "") -> None:
        event = SessionEvent(self.address, kind, self._clock(), detail)
        log.info("%s %s %s", self.address, kind, detail)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("%s: on_event failed", self.address)
