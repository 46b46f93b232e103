"""The device registry's API: a patient's devices with when each last sent data (the patient,
their clinicians, admins), and enrolling or retiring a device (admins; ``telemed device`` does
the same). Reads and changes are audited (``Device``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adherence.models import DeviceHeartbeat
from clinician_api.deps import Admin, CurrentPrincipal, Session
from clinician_api.devices.schemas import PatientDeviceIn, RegisteredDeviceOut
from patient_hub.access import Principal, require_patient
from patient_hub.audit import service as audit
from patient_hub.devices import service as devices
from patient_hub.devices.models import RegisteredDevice
from patient_hub.ingest.models import ReadingRow
from telemed_core.values import utc_now

router = APIRouter(tags=["devices"])


async def last_data(session: AsyncSession, patient_id: str) -> dict[str, datetime]:
    """device id -> when it last sent data for the patient: its liveness (``device_heartbeats``,
    written as data arrives), else its newest reading."""
    seen = {
        d: at
        for d, at in await session.execute(
            select(DeviceHeartbeat.device_id, DeviceHeartbeat.last_seen_at).where(
                DeviceHeartbeat.patient_id == patient_id
            )
        )
    }
    newest = select(ReadingRow.device_id, func.max(ReadingRow.measured_at)).where(
        ReadingRow.patient_id == patient_id
    )
    for d, at in await session.execute(newest.group_by(ReadingRow.device_id)):
        if d not in seen or (at is not None and at > seen[d]):
            seen[d] = at
    return seen


def device_out(row: RegisteredDevice, last: datetime | None = None) -> RegisteredDeviceOut:
    return RegisteredDeviceOut(
        device_id=row.device_id, kind=row.kind, model=row.model, serial=row.serial,
        ble_address=row.ble_address, patient_id=row.patient_id, gateway_id=row.gateway_id,
        enrolled_by=row.enrolled_by, enrolled_at=row.enrolled_at, retired_by=row.retired_by,
        retired_at=row.retired_at, last_data_at=last,
    )  # fmt: skip


async def registry_of(session: AsyncSession, patient_id: str) -> list[RegisteredDeviceOut]:
    rows: Sequence[RegisteredDevice] = await devices.of_patient(session, patient_id)
    seen = await last_data(session, patient_id) if rows else {}
    return [device_out(r, seen.get(r.device_id)) for r in rows]


async def _audit(session: AsyncSession, who: Principal, action: str, row: RegisteredDevice) -> None:
    await audit.record(
        session, actor=who, action=action, entity_type="Device", entity_id=row.device_id,  # type: ignore[arg-type]
        patient_id=row.patient_id, detail={"kind": row.kind, "model": row.model,
                                           "ble_address": row.ble_address, "gateway_id": row.gateway_id},
    )  # fmt: skip


@router.get("/api/patients/{patient_id}/devices", response_model=list[RegisteredDeviceOut])
async def patient_devices(
    patient_id: str, session: Session, who: CurrentPrincipal
) -> list[RegisteredDeviceOut]:
    """The patient's registered (not retired) devices, each with when it last sent data."""
    await require_patient(session, who, patient_id)
    out = await registry_of(session, patient_id)
    await audit.record(
        session, actor=who, action="read", entity_type="Device", entity_id=patient_id,
        patient_id=patient_id,
    )  # fmt: skip
    return out


@router.post("/api/admin/devices", response_model=RegisteredDeviceOut, status_code=201)
async def add_device(body: PatientDeviceIn, session: Session, who: Admin) -> RegisteredDeviceOut:
    """Assign a device to a patient (one active assignment per device and per BLE address)."""
    row = await devices.enrol_device(session, by=who.username, now=utc_now(), **body.model_dump())
    await _audit(session, who, "create", row)
    return device_out(row)


@router.post("/api/admin/devices/{device_id}/retire", response_model=RegisteredDeviceOut)
async def retire_device(device_id: str, session: Session, who: Admin) -> RegisteredDeviceOut:
    """End a device's assignment; its readings stay with the patient they came from."""
    row = await devices.retire_device(session, device_id, by=who.username, now=utc_now())
    await _audit(session, who, "update", row)
    return device_out(row)
