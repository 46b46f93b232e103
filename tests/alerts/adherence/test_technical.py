"""Technical alarms: battery low, device offline, no data, kiosk offline, with inhibition."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.engine.consumer import AlertWorker
from patient_hub.db import unit_of_work
from patient_hub.ingest.models import Bridge
from patient_hub.patients import service as patients
from tests.alerts.conftest import AlertRig, build_rig
from tests.alerts.helpers import T0, episodes, feed, reading


def rules(eps: list[object]) -> list[tuple[str, str, str]]:
    return [(e.patient_id, e.rule, e.state) for e in eps]  # type: ignore[attr-defined]


async def hear(w: AlertWorker, *rows: dict[str, object]) -> None:
    await feed(w, {"bridge_id": "b", "readings": list(rows)})
    await w.flush_heard()  # the timer loop's next turn


async def test_battery_low_raises_a_technical_alarm_for_operators_and_clears_when_charged(
    rig: AlertRig,
) -> None:
    w = rig.worker()
    await hear(w, reading("battery_level", 15, T0, device="strap-1"))
    [ep] = await episodes(rig.hub)
    assert (ep.rule, ep.category, ep.chain) == ("battery_low", "technical", "operations")
    assert "15 %" in ep.explanation["why"]
    await hear(w, reading("battery_level", 80, T0 + timedelta(hours=2), seq=1, device="strap-1"))
    assert rules(await episodes(rig.hub)) == [("p1", "battery_low", "resolved")]


async def test_a_silent_streaming_device_is_offline_but_a_silent_cuff_is_not(rig: AlertRig) -> None:
    w = rig.worker()
    await hear(w, reading("spo2", 97, T0), reading("bp_systolic", 130, T0, device="cuff-1"))
    rig.clock.now = T0 + timedelta(minutes=11)
    await w.sweep()
    [ep] = await episodes(rig.hub)
    assert (ep.rule, ep.explanation["values"]["device_id"]) == ("device_offline", "ox-1")
    await hear(w, reading("spo2", 96, rig.clock.now, seq=2))
    assert rules(await episodes(rig.hub)) == [("p1", "device_offline", "resolved")]


async def test_an_open_device_offline_alarm_inhibits_the_no_data_alarm(rig: AlertRig) -> None:
    w = rig.worker()
    await hear(w, reading("spo2", 97, T0), reading("bp_systolic", 130, T0, "p2", device="cuff-1"))
    rig.clock.now = T0 + timedelta(minutes=11)
    await w.sweep()
    rig.clock.now = T0 + timedelta(hours=49)
    await w.sweep()
    assert rules(await episodes(rig.hub)) == [
        ("p1", "device_offline", "active"),
        ("p2", "no_data", "active"),  # p2 has no offline device to explain the silence
    ]


async def test_a_silent_kiosk_is_one_alarm_and_inhibits_its_patients_no_data(rig: AlertRig) -> None:
    async with unit_of_work(rig.hub.sessions) as s:
        await patients.ensure_telemedpoint(s, "tmp-a", "Point A")
        await patients.upsert_patient(s, "k1", "K1", T0, telemedpoint_id="tmp-a")
        await patients.upsert_patient(s, "k2", "K2", T0, telemedpoint_id="tmp-a")
        s.add(Bridge(id="kiosk-a", token_hash="x", telemedpoint_id="tmp-a", last_seen_at=T0))
    w = rig.worker()
    k1 = reading("bp_systolic", 130, T0, "k1", device="cuff-1")
    k1["bridge_id"] = "kiosk-a"
    await hear(w, k1)
    rig.clock.now = T0 + timedelta(minutes=16)
    await w.sweep()
    rig.clock.now = T0 + timedelta(hours=49)
    await w.sweep()
    assert rules(await episodes(rig.hub)) == [("telemedpoint:tmp-a", "kiosk_offline", "active")]


async def test_liveness_is_written_by_the_next_flush_not_on_the_readings_path(
    rig: AlertRig,
) -> None:
    from sqlalchemy import select

    from alerts.adherence.models import DeviceHeartbeat

    async def heartbeats() -> list[tuple[str, str, float | None]]:
        async with rig.hub.sessions() as s:
            rows = await s.scalars(select(DeviceHeartbeat))
            return [(r.patient_id, r.device_id, r.battery_pct) for r in rows]

    w = rig.worker()
    await feed(w, {"bridge_id": "b", "readings": [reading("battery_level", 55, T0)]})
    assert await heartbeats() == []
    assert await w.flush_heard() == 1
    await feed(w, {"bridge_id": "b", "readings": [reading("spo2", 97, T0 + timedelta(minutes=1))]})
    await w.flush_heard()
    assert await heartbeats() == [("p1", "ox-1", 55.0)]  # a batch without a level keeps it


@pytest.mark.postgres
async def test_one_flush_writes_a_device_heard_twice_on_postgresql(postgres_url: str) -> None:
    """PostgreSQL's upsert may not touch one row twice in a statement: the flush merges."""
    pg = await build_rig(postgres_url)
    try:
        w = pg.worker()
        await feed(w, {"bridge_id": "b", "readings": [reading("battery_level", 15, T0)]})
        later = reading("spo2", 97, T0 + timedelta(minutes=1), seq=1)
        await feed(w, {"bridge_id": "b", "readings": [later]})
        assert await w.flush_heard() == 2
        [ep] = await episodes(pg.hub)
        assert (ep.rule, ep.state) == ("battery_low", "active")
    finally:
        await pg.hub.bus.close()
        await pg.hub.engine.dispose()


def test_a_flush_that_failed_keeps_one_entry_per_device_with_its_last_battery_level() -> None:
    from alerts.adherence import technical

    first = technical.heard_devices(
        {"bridge_id": "b", "readings": [reading("battery_level", 15, T0)]}
    )
    later = technical.heard_devices(
        {"bridge_id": "b", "readings": [reading("spo2", 97, T0 + timedelta(seconds=5), seq=1)]}
    )
    [(patient, device, heard)] = technical.merge_heard(first + later)
    assert (patient, device, heard.battery, heard.streaming) == ("p1", "ox-1", 15.0, True)
    assert heard.at == T0 + timedelta(seconds=5)


@pytest.mark.postgres
async def test_one_flush_writes_more_devices_than_one_statement_may_bind(
    postgres_url: str,
) -> None:
    """6,000 devices x 6 values exceed PostgreSQL's 32,767 parameters per statement (SQLite's
    limit is 32,766 in some builds): the flush failed on it and, keeping what it could not
    write, failed again at every later flush (a hub of 5,462 or more streaming devices)."""
    from sqlalchemy import func, select

    from alerts.adherence import repository as repo
    from alerts.adherence.models import DeviceHeartbeat

    pg = await build_rig(postgres_url)
    try:
        devices = [repo.Heard(f"p{i}", "ox", "b", T0, None, True) for i in range(6_000)]
        async with unit_of_work(pg.hub.sessions) as s:
            await repo.heard(s, devices)
        async with pg.hub.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(DeviceHeartbeat)) == 6_000
    finally:
        await pg.hub.bus.close()
        await pg.hub.engine.dispose()


def test_devices_first_heard_together_are_rewritten_spread_over_the_interval() -> None:
    from alerts.adherence.technical import HeardCache

    cache, keys = HeardCache(every_s=30), [(f"p{i}", "ox") for i in range(3_000)]
    assert all(cache.due(k, T0) for k in keys)  # first heard: written at once
    per_second = []
    last_write = dict.fromkeys(keys, T0)
    for s in range(1, 91):  # every device heard every second for 90 s
        at = T0 + timedelta(seconds=s)
        written = [k for k in keys if cache.due(k, at)]
        for k in written:
            assert (at - last_write[k]).total_seconds() <= 30  # never staler than the interval
            last_write[k] = at
        per_second.append(len(written))
    assert sum(per_second) >= 2 * len(keys)  # rewritten at least twice in 90 s
    assert max(per_second) < 3 * len(keys) / 30  # about 100 a second, never all 3,000 at once
