"""Device sessions on the fake link: profiles, resubscription, watchdog, RACP sync, ordering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from device_bridge import polar
from device_bridge.gatt.encode import encode_glucose
from device_bridge.gatt.racp import encode_racp_report_all, encode_racp_report_from
from device_bridge.link import (
    PROFILES,
    Advertisement,
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
    with_retries,
)
from device_bridge.link.fake import (
    FakeCharacteristic,
    FakeGlucoseMeter,
    FakeLink,
    FakePeripheral,
    heart_rate_strap,
    polar_h10,
)

ADDRESS = "AA:BB:CC:00:00:01"
HRM, RACP, GLUCOSE = uuid_of(0x2A37), uuid_of(0x2A52), uuid_of(0x2A18)
FAST = SessionTiming(
    scan_timeout_s=0.2,
    connect_timeout_s=1.0,
    procedure_timeout_s=1.0,
    reconnect=RetryPolicy(attempts=0, initial_delay_s=0.001, max_delay_s=0.01, jitter=0),
)
BASE_TIME = datetime(2024, 3, 15, 7, 45, tzinfo=UTC)


class Recorder:
    """Collects what a session hands up and lets a test await a condition on it."""

    def __init__(self) -> None:
        self.payloads: list[tuple[str, str, bytes, datetime]] = []
        self.events: list[SessionEvent] = []
        self.fail_on: Callable[[str, bytes], bool] = lambda _uuid, _payload: False
        self._changed = asyncio.Event()

    def payload(self, address: str, uuid: str, payload: bytes, received_at: datetime) -> None:
        if self.fail_on(uuid, payload):
            raise OSError("disk full")
        self.payloads.append((address, uuid, payload, received_at))
        self._changed.set()

    def event(self, event: SessionEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def count(self, kind: EventKind) -> int:
        return sum(1 for e in self.events if e.kind is kind)

    def sequences(self) -> list[int]:
        return [int.from_bytes(p[1:3], "little") for _, u, p, _ in self.payloads if u == GLUCOSE]

    async def until(self, condition: Callable[[], bool], timeout_s: float = 2.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                await self._changed.wait()


def make_session(
    link: FakeLink,
    kind: DeviceKind,
    rec: Recorder,
    *,
    profile: DeviceProfile | None = None,
    watermarks: MemoryWatermarks | None = None,
) -> DeviceSession:
    return DeviceSession(
        link,
        ADDRESS,
        profile or PROFILES[kind],
        rec.payload,
        watermarks=watermarks,
        on_event=rec.event,
        timing=FAST,
    )


@asynccontextmanager
async def running(session: DeviceSession) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(session.run())
    try:
        yield task
    finally:
        session.stop()
        async with asyncio.timeout(2):
            await asyncio.gather(task, return_exceptions=True)


def record(seq: int) -> bytes:
    return encode_glucose(seq, BASE_TIME + timedelta(minutes=seq), concentration=0.001)


def meter_with(*sequences: int) -> FakeGlucoseMeter:
    meter = FakeGlucoseMeter(ADDRESS, advertised_services=[0x1808])
    for seq in sequences:
        meter.store(seq, record(seq))
    return meter


# -- the port's pure parts --------------------------------------------------------------


def test_scan_filter_matches_service_name_prefix_or_manufacturer() -> None:
    scan = ScanFilter(
        service_uuids=frozenset({uuid_of(0x1810)}),
        name_prefixes=("BP7000",),
        manufacturer_ids=frozenset({0x020E}),
    )
    assert scan.matches(Advertisement("A", service_uuids=frozenset({uuid_of(0x1810)})))
    assert scan.matches(Advertisement("A", name="BP7000 cuff"))
    assert scan.matches(Advertisement("A", manufacturer_data={0x020E: b"\x01"}))
    assert not scan.matches(Advertisement("A", name="Scale", manufacturer_data={0x59: b""}))
    assert not scan.matches(Advertisement("A"))


def test_scan_filter_restricted_to_an_address_rejects_other_devices() -> None:
    scan = ScanFilter(name_prefixes=("Meter",)).at("aa:bb:cc:00:00:01")
    assert scan.matches(Advertisement(ADDRESS, name="Meter 1"))
    assert not scan.matches(Advertisement("AA:BB:CC:00:00:02", name="Meter 2"))
    assert ScanFilter().matches(Advertisement("ANY"))


async def test_with_retries_backs_off_exponentially_then_gives_up() -> None:
    waits: list[float] = []

    async def sleep(delay_s: float) -> None:
        waits.append(delay_s)

    async def attempt(n: int) -> int:
        raise ConnectionError(f"attempt {n}")

    policy = RetryPolicy(attempts=4, initial_delay_s=0.5, factor=2, max_delay_s=1.5, jitter=0)
    with pytest.raises(ConnectionError, match="attempt 3"):
        await with_retries(attempt, policy, retry_on=(ConnectionError,), sleep=sleep)
    assert waits == [0.5, 1.0, 1.5]


async def test_with_retries_returns_the_first_success_and_does_not_retry_other_errors() -> None:
    calls: list[int] = []

    async def attempt(n: int) -> str:
        calls.append(n)
        if n < 2:
            raise ConnectionError
        return "linked"

    async def no_wait(_delay_s: float) -> None:
        return None

    policy = RetryPolicy(attempts=5, jitter=0)
    assert await with_retries(attempt, policy, retry_on=(ConnectionError,), sleep=no_wait) == (
        "linked"
    )
    assert calls == [0, 1, 2]

    async def broken(_n: int) -> str:
        raise ValueError("not transient")

    with pytest.raises(ValueError):
        await with_retries(broken, policy, retry_on=(ConnectionError,), sleep=no_wait)


# -- profiles ----------------------------------------------------------------------------


async def test_heart_rate_payloads_go_up_as_raw_bytes_with_utc_receive_time() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    async with running(make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec)):
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
        assert strap.notify(HRM, bytes.fromhex("16 48 6C 03 A0 03"))
        await rec.until(lambda: len(rec.payloads) == 1)
    address, uuid, payload, received_at = rec.payloads[0]
    assert (address, uuid, payload) == (ADDRESS, HRM, bytes.fromhex("16 48 6C 03 A0 03"))
    assert received_at.utcoffset() == timedelta(0)
    assert all(e.at.tzinfo is not None for e in rec.events)
    assert strap.subscribe_log == [HRM]


async def test_bp_cuff_pairs_before_subscribing_measurement_then_cuff_pressure() -> None:
    chars = [
        FakeCharacteristic(uuid_of(0x2A35), frozenset({"indicate"})),
        FakeCharacteristic(uuid_of(0x2A36), frozenset({"notify"})),
        FakeCharacteristic(uuid_of(0x2A49), frozenset({"read"})),
    ]
    cuff = FakePeripheral(ADDRESS, chars, advertised_services=[0x1810], requires_bonding=True)
    rec = Recorder()
    async with running(make_session(FakeLink(cuff), DeviceKind.BP_CUFF, rec)):
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
    assert cuff.bonded
    assert cuff.subscribe_log == [uuid_of(0x2A35), uuid_of(0x2A36)]


async def test_pulse_oximeter_subscribes_only_the_characteristics_it_has() -> None:
    chars = [FakeCharacteristic(uuid_of(0x2A5E), frozenset({"indicate"}))]
    oximeter = FakePeripheral(ADDRESS, chars, advertised_services=[0x1822])
    rec = Recorder()
    async with running(make_session(FakeLink(oximeter), DeviceKind.PULSE_OXIMETER, rec)):
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
    assert oximeter.subscribe_log == [uuid_of(0x2A5E)]


async def test_device_lacking_a_required_characteristic_is_reported_and_retried() -> None:
    meter = FakePeripheral(
        ADDRESS,
        [FakeCharacteristic(GLUCOSE, frozenset({"notify"}))],  # no RACP
        advertised_services=[0x1808],
    )
    rec = Recorder()
    async with running(make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec)):
        await rec.until(lambda: rec.count(EventKind.ERROR) >= 2)
    errors = [e.detail for e in rec.events if e.kind is EventKind.ERROR]
    assert all("CharacteristicNotFound" in detail for detail in errors)
    assert rec.count(EventKind.READY) == 0


async def test_polar_h10_starts_ecg_after_subscribing_and_hands_up_frames_not_responses() -> None:
    h10, rec = polar_h10(ADDRESS), Recorder()
    async with running(make_session(FakeLink(h10), DeviceKind.POLAR_H10, rec)):
        await rec.until(lambda: rec.count(EventKind.ECG_STARTED) == 1)
        frame = polar.encode_ecg_frame(2_000_000_000, [-32766, 32770])
        assert h10.notify(polar.PMD_DATA_UUID, frame)
        await rec.until(lambda: len(rec.payloads) == 1)
    assert h10.subscribe_log == [HRM, polar.PMD_CONTROL_POINT_UUID, polar.PMD_DATA_UUID]
    assert h10.writes == [(polar.PMD_CONTROL_POINT_UUID, polar.START_ECG)]
    assert [(u, p) for _, u, p, _ in rec.payloads] == [(polar.PMD_DATA_UUID, frame)]


async def test_a_device_advertising_no_service_is_found_by_name() -> None:
    meter = FakeGlucoseMeter(ADDRESS, name="Meter GL-50")  # advertises no service
    rec = Recorder()
    by_service = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec)
    async with running(by_service):
        await rec.until(lambda: rec.count(EventKind.ERROR) == 1)
    assert "DeviceNotFound" in rec.events[0].detail
    profile = PROFILES[DeviceKind.GLUCOSE_METER].matching(name_prefixes=("Meter GL",))
    rec = Recorder()
    async with running(
        make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec, profile=profile)
    ):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)


async def test_pairing_unsupported_fails_the_session_with_a_clear_error() -> None:
    scale = FakePeripheral(
        ADDRESS,
        [FakeCharacteristic(uuid_of(0x2A9D), frozenset({"indicate"}))],
        advertised_services=[0x181D],
        pairing_supported=False,
    )
    rec = Recorder()
    session = make_session(FakeLink(scale), DeviceKind.WEIGHT_SCALE, rec)
    with pytest.raises(PairingNotSupported, match="cannot pair"):
        async with asyncio.timeout(2):
            await session.run()
    assert [e.kind for e in rec.events][-2:] == [EventKind.FAILED, EventKind.STOPPED]
    assert scale.subscribe_log == []


# -- reconnects and the watchdog ---------------------------------------------------------


async def test_resubscribes_after_every_reconnect() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    async with running(make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec)):
        for n in range(1, 4):
            await rec.until(lambda n=n: rec.count(EventKind.READY) == n)  # type: ignore[misc]
            assert strap.notify(HRM, bytes([0x00, 60 + n]))
            await rec.until(lambda n=n: len(rec.payloads) == n)  # type: ignore[misc]
            strap.drop_link()
            assert not strap.notify(HRM, b"\x00\x50")  # nobody is listening while down
    assert strap.subscribe_log == [HRM] * 3
    assert strap.connect_count >= 3
    assert [p for _, _, p, _ in rec.payloads] == [b"\x00\x3d", b"\x00\x3e", b"\x00\x3f"]


async def test_connect_failures_are_retried_until_the_device_answers() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    strap.fail_connects = 3
    async with running(make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec)):
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
    assert rec.count(EventKind.ERROR) == 3
    assert strap.connect_count == 1


async def test_watchdog_reconnects_a_silent_stream() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    profile = replace(PROFILES[DeviceKind.HEART_RATE_STRAP], silence_timeout_s=0.05)
    session = make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec, profile=profile)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.READY) == 2)
    assert rec.count(EventKind.SILENT) >= 1
    assert strap.connect_count >= 2
    assert strap.subscribe_log[:2] == [HRM, HRM]


async def test_watchdog_leaves_a_flowing_stream_alone() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    profile = replace(PROFILES[DeviceKind.HEART_RATE_STRAP], silence_timeout_s=0.1)
    session = make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec, profile=profile)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
        for n in range(30):  # 0.3 s of notifications every 10 ms: three silence windows
            assert strap.notify(HRM, bytes([0x00, n]))
            await asyncio.sleep(0.01)
    assert rec.count(EventKind.SILENT) == 0
    assert strap.connect_count == 1


async def test_stop_disconnects_and_ends_the_run() -> None:
    strap, rec = heart_rate_strap(ADDRESS), Recorder()
    session = make_session(FakeLink(strap), DeviceKind.HEART_RATE_STRAP, rec)
    async with running(session) as task:
        await rec.until(lambda: rec.count(EventKind.READY) == 1)
        session.stop()
        async with asyncio.timeout(1):
            await task
    assert not strap.connected
    assert [e.kind for e in rec.events][-2:] == [EventKind.DISCONNECTED, EventKind.STOPPED]


# -- glucose RACP sync -------------------------------------------------------------------


async def test_sync_pulls_all_records_then_only_newer_ones_after_a_reconnect() -> None:
    meter, rec, marks = meter_with(1, 2, 3), Recorder(), MemoryWatermarks()
    session = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec, watermarks=marks)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
        assert rec.sequences() == [1, 2, 3]
        meter.store(4, record(4))
        meter.store(5, record(5))
        meter.drop_link()
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 2)
    assert rec.sequences() == [1, 2, 3, 4, 5]
    assert [p for _, p in meter.writes] == [encode_racp_report_all(), encode_racp_report_from(4)]
    assert marks.values == {ADDRESS: 5}
    assert meter.subscribe_log == [GLUCOSE, RACP, uuid_of(0x2A34)] * 2


async def test_sync_starts_above_a_persisted_watermark() -> None:
    meter, rec = meter_with(1, 2, 3), Recorder()
    marks = MemoryWatermarks({ADDRESS: 2})
    session = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec, watermarks=marks)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
    assert meter.writes == [(RACP, encode_racp_report_from(3))]
    assert rec.sequences() == [3]


async def test_records_a_sloppy_meter_resends_are_dropped_as_duplicates() -> None:
    meter, rec = meter_with(1, 2, 3), Recorder()
    meter.honor_filter = False
    session = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
        meter.store(4, record(4))
        meter.drop_link()
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 2)
    assert rec.sequences() == [1, 2, 3, 4]
    assert session.duplicates_dropped == 3


async def test_a_sync_cut_by_a_disconnect_resumes_without_loss_or_duplicates() -> None:
    meter, rec = meter_with(*range(1, 11)), Recorder()
    original = rec.payload

    def drop_after_four(address: str, uuid: str, payload: bytes, received_at: datetime) -> None:
        original(address, uuid, payload, received_at)
        if rec.sequences() == [1, 2, 3, 4]:
            meter.drop_link()

    session = DeviceSession(
        FakeLink(meter),
        ADDRESS,
        PROFILES[DeviceKind.GLUCOSE_METER],
        drop_after_four,
        on_event=rec.event,
        timing=FAST,
    )
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
    assert rec.sequences() == list(range(1, 11))
    assert [p for _, p in meter.writes] == [encode_racp_report_all(), encode_racp_report_from(5)]
    assert rec.count(EventKind.PROCEDURE_FAILED) == 0


async def test_a_record_that_could_not_be_stored_is_pulled_again_without_duplicates() -> None:
    meter, rec = meter_with(1, 2, 3), Recorder()
    failed: list[int] = []

    def first_store_of_record_2_fails(uuid: str, payload: bytes) -> bool:
        if uuid == GLUCOSE and payload[1] == 2 and not failed:
            failed.append(2)
            return True
        return False

    rec.fail_on = first_store_of_record_2_fails
    session = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
        assert rec.sequences() == [1]
        await session.sync_now()
    assert rec.sequences() == [1, 2, 3]
    assert session.watermark == 3


async def test_concurrent_syncs_run_one_at_a_time_and_never_duplicate() -> None:
    meter, rec = meter_with(1, 2, 3), Recorder()
    session = make_session(FakeLink(meter), DeviceKind.GLUCOSE_METER, rec)
    async with running(session):
        await rec.until(lambda: rec.count(EventKind.SYNCED) == 1)
        meter.store(4, record(4))
        meter.store(5, record(5))
        # Without the per-device procedure lock the meter answers the second request with
        # ATT error 0x80 (procedure already in progress) and sync_now raises GattError.
        await asyncio.gather(session.sync_now(), session.sync_now())
    assert rec.sequences() == [1, 2, 3, 4, 5]
    requests = [p for _, p in meter.writes]
    assert requests == [
        encode_racp_report_all(),
        encode_racp_report_from(4),
        encode_racp_report_from(6),  # built under the lock, from the first sync's watermark
    ]


async def test_the_link_runs_one_gatt_operation_at_a_time_per_device() -> None:
    strap = heart_rate_strap(ADDRESS)
    strap.op_delay_s = 0.01
    link = FakeLink(strap)
    conn = await link.connect(ADDRESS, on_disconnect=lambda _a: None)
    values = await asyncio.gather(*(conn.read(uuid_of(0x2A38)) for _ in range(5)))
    assert values == [b"\x01"] * 5
    assert strap.max_concurrent_ops == 1
