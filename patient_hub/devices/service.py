"""Enrol and retire devices (the caller owns the transaction and the audit entry)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.devices.models import KINDS, RegisteredDevice
from patient_hub.ingest.models import Bridge
from patient_hub.patients.models import Patient
from telemed_core.errors import Conflict, InvalidInput, NotFound

#: A Bluetooth device address: six hex pairs, colon-separated (stored upper case).
BLE_ADDRESS = re.compile(r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$")


def normalised_ble(address: str | None) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` → ``AA:BB:CC:DD:EE:FF``; InvalidInput for anything else."""
    if address is None or not address.strip():
        return None
    value = address.strip().upper()
    if not BLE_ADDRESS.match(value):
        raise InvalidInput(
            f"BLE address {address!r}: six hex pairs separated by colons, e.g. A4:C1:38:2F:9B:10"
        )
    return value


async def active(session: AsyncSession, device_id: str) -> RegisteredDevice | None:
    stmt = select(RegisteredDevice).where(
        RegisteredDevice.device_id == device_id, RegisteredDevice.retired_at.is_(None)
    )
    return (await session.scalars(stmt)).first()


async def of_patient(session: AsyncSession, patient_id: str) -> Sequence[RegisteredDevice]:
    """The patient's active devices, in the order they were enrolled."""
    stmt = select(RegisteredDevice).where(
        RegisteredDevice.patient_id == patient_id, RegisteredDevice.retired_at.is_(None)
    )
    return (await session.scalars(stmt.order_by(RegisteredDevice.id))).all()


async def enrol_device(
    session: AsyncSession,
    *,
    patient_id: str,
    device_id: str,
    kind: str,
    model: str,
    serial: str | None,
    ble_address: str | None,
    gateway_id: str | None,
    by: str,
    now: datetime,
) -> RegisteredDevice:
    """Assign a device to a patient. Refused with a clear 4xx (nothing written) for an unknown
    kind, a malformed BLE address, an unknown patient or gateway, or a device (id or address)
    that is assigned already."""
    if kind not in KINDS:
        raise InvalidInput(f"device kind {kind!r}: one of {', '.join(KINDS)}")
    address = normalised_ble(ble_address)
    if await session.get(Patient, patient_id) is None:
        raise NotFound(f"no patient {patient_id!r}")
    if gateway_id is not None and await session.get(Bridge, gateway_id) is None:
        raise InvalidInput(f"no gateway or kiosk {gateway_id!r}: enrol it first")
    same = [RegisteredDevice.device_id == device_id]
    if address is not None:
        same.append(RegisteredDevice.ble_address == address)
    taken = select(RegisteredDevice).where(RegisteredDevice.retired_at.is_(None), or_(*same))
    holder = (await session.scalars(taken)).first()
    if holder is not None:
        what = "device" if holder.device_id == device_id else f"BLE address {address}"
        raise Conflict(
            f"{what} is assigned to patient {holder.patient_id!r} already: retire it there first"
        )
    row = RegisteredDevice(
        device_id=device_id, kind=kind, model=model, serial=serial or None, ble_address=address,
        patient_id=patient_id, gateway_id=gateway_id, enrolled_by=by, enrolled_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row


async def retire_device(
    session: AsyncSession, device_id: str, *, by: str, now: datetime
) -> RegisteredDevice:
    """End a device's assignment (it may then be enrolled for another patient)."""
    row = await active(session, device_id)
    if row is None:
        raise NotFound(f"no active device {device_id!r}")
    row.retired_by, row.retired_at = by, now
    await session.flush()
    return row
