"""All SQL of liveness (device heartbeats, kiosks) and measurement schedules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adherence.models import DeviceHeartbeat, MeasurementSchedule
from patient_hub.ingest.models import Bridge
from patient_hub.ingest.repository import dialect_insert
from patient_hub.patients.models import Patient


@dataclass(frozen=True, slots=True)
class Heard:
    """What a batch said about one device."""

    patient_id: str
    device_id: str
    bridge_id: str
    at: datetime
    battery_pct: float | None
    continuous: bool


#: Devices per upsert statement (``heard``).
HEARD_PAGE_ROWS = 1_000


async def heard(session: AsyncSession, devices: Sequence[Heard]) -> None:
    """Upsert the devices' last-heard time (never moving it back), battery level (kept when a
    batch carries none), and whether they stream (once seen streaming, a device stays a
    streaming device): one statement per ``HEARD_PAGE_ROWS`` devices."""
    rows = [
        {"patient_id": d.patient_id, "device_id": d.device_id, "bridge_id": d.bridge_id,
         "last_seen_at": d.at, "battery_pct": d.battery_pct, "continuous": d.continuous}
        for d in _one_per_device(devices)
    ]  # fmt: skip
    latest = func.max if session.get_bind().dialect.name == "sqlite" else func.greatest
    # A page of rows per statement: PostgreSQL binds at most 32,767 parameters in one (six
    # per row: 5,462 devices; some SQLite builds 32,766), and a flush that failed on it would
    # have failed again at every later flush.
    for i in range(0, len(rows), HEARD_PAGE_ROWS):
        stmt = dialect_insert(session, DeviceHeartbeat).values(rows[i : i + HEARD_PAGE_ROWS])
        update = {
            "last_seen_at": latest(DeviceHeartbeat.last_seen_at, stmt.excluded.last_seen_at),
            "bridge_id": stmt.excluded.bridge_id,
            "battery_pct": func.coalesce(stmt.excluded.battery_pct, DeviceHeartbeat.battery_pct),
            "continuous": or_(DeviceHeartbeat.continuous, stmt.excluded.continuous),
        }
        await session.execute(
            stmt.on_conflict_do_update(index_elements=["patient_id", "device_id"], set_=update)
        )


def _one_per_device(devices: Sequence[Heard]) -> list[Heard]:
    """One row per device (PostgreSQL's upsert may not touch a row twice in one statement):
    the latest time and its bridge, the last battery level given, streaming if ever."""
    merged: dict[tuple[str, str], Heard] = {}
    for d in devices:
        key = (d.patient_id, d.device_id)
        prev = merged.get(key)
        if prev is None:
            merged[key] = d
            continue
        latest = d if d.at >= prev.at else prev
        merged[key] = Heard(
            d.patient_id, d.device_id, latest.bridge_id, latest.at,
            d.battery_pct if d.battery_pct is not None else prev.battery_pct,
            d.continuous or prev.continuous,
        )  # fmt: skip
    return list(merged.values())


async def devices_silent_since(
    session: AsyncSession, silent_since: datetime, heard_after: datetime
) -> Sequence[DeviceHeartbeat]:
    """Streaming devices last heard between ``heard_after`` and ``silent_since`` (a device
    unused for longer is retired, not offline)."""
    stmt = select(DeviceHeartbeat).where(
        DeviceHeartbeat.continuous.is_(True),
        DeviceHeartbeat.last_seen_at < silent_since,
        DeviceHeartbeat.last_seen_at > heard_after,
    )
    return (await session.scalars(stmt)).all()


async def patients_silent_since(
    session: AsyncSession, silent_since: datetime
) -> Sequence[tuple[str, datetime]]:
    """(patient, last heard) of patients with devices whose newest data is older than given."""
    last = func.max(DeviceHeartbeat.last_seen_at)
    stmt = (
        select(DeviceHeartbeat.patient_id, last)
        .group_by(DeviceHeartbeat.patient_id)
        .having(last < silent_since)
    )
    return [(p, t) for p, t in (await session.execute(stmt)).all()]


async def kiosks_silent_since(
    session: AsyncSession, silent_since: datetime
) -> list[tuple[str, str, datetime, list[str]]]:
    """(bridge, telemedpoint, last heard, its patients) of kiosks silent since ``silent_since``
    that were heard at some point (a never-connected kiosk is not offline, only not set up)."""
    kiosks = (await session.execute(
        select(Bridge.id, Bridge.telemedpoint_id, Bridge.last_seen_at).where(
            Bridge.telemedpoint_id.is_not(None)
        )
    )).all()  # fmt: skip
    out: list[tuple[str, str, datetime, list[str]]] = []
    for bridge_id, point, connected in kiosks:
        data = await session.scalar(
            select(func.max(DeviceHeartbeat.last_seen_at)).where(
                DeviceHeartbeat.bridge_id == bridge_id
            )
        )
        heard = [t for t in (connected, data) if t is not None]
        if not heard:
            continue
        last = max(_aware(t) for t in heard)
        if last < silent_since and point is not None:
            members = await session.scalars(
                select(Patient.id).where(Patient.telemedpoint_id == point)
            )
            out.append((bridge_id, point, last, list(members)))
    return out


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


async def schedules(session: AsyncSession) -> Sequence[MeasurementSchedule]:
    return (await session.scalars(select(MeasurementSchedule))).all()


async def telemedpoint_of(session: AsyncSession, patient_id: str) -> str | None:
    return await session.scalar(select(Patient.telemedpoint_id).where(Patient.id == patient_id))
