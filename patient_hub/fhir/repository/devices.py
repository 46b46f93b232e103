"""Devices: the PHDs seen in a patient's data and the gateways (home bridges, kiosks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.common import JsonDict
from patient_hub.fhir.errors import FhirMappingError
from patient_hub.fhir.repository.conditions import _patient_filter
from patient_hub.fhir.repository.results import C, Patients, R, _aware
from patient_hub.fhir.resources import device_to_fhir, gateway_to_fhir
from patient_hub.fhir.search.parse import decode_ids
from patient_hub.ingest.models import Bridge
from patient_hub.patients.models import Patient


async def devices(
    session: AsyncSession,
    patients: Patients,
    *,
    device_ids: Iterable[str] | None = None,
    kiosks: bool = True,
) -> list[tuple[JsonDict, str | None]]:
    """PHDs (``phd-``) that reported for ``patients`` and their gateways (``phg-``), with the
    patient each belongs to (None: a kiosk). ``device_ids`` narrows to those logical ids.

    There is no devices table: a PHD is known by the readings and chunks it produced, so this
    reads the patients' rows grouped by device. The same device id seen with several patients
    is shown with the one it reported for last.
    """
    if patients is not None and not patients:
        return []
    wanted = None if device_ids is None else set(device_ids)
    phd = None if wanted is None else decode_ids(wanted, "phd-")
    phg = None if wanted is None else decode_ids(wanted, "phg-")
    out = await _phds(session, patients, phd) if phd is None or phd else []
    if phg is None or phg:
        out += await _gateways(session, patients, phg, kiosks=kiosks)
    return sorted(out, key=lambda rp: str(rp[0]["id"]))


async def _phds(
    session: AsyncSession, patients: Patients, device_ids: set[str] | None
) -> list[tuple[JsonDict, str | None]]:
    per_pair: dict[tuple[str, str], _DeviceUse] = {}
    for device, patient, bridge, kind, last in await _device_rows(session, patients, device_ids):
        use = per_pair.setdefault((device, patient), _DeviceUse(device, patient))
        use.take(bridge, kind, _aware(last))
    latest: dict[str, _DeviceUse] = {}
    for use in per_pair.values():
        if use.device not in latest or use.last > latest[use.device].last:
            latest[use.device] = use
    out: list[tuple[JsonDict, str | None]] = []
    for use in latest.values():
        try:
            resource = device_to_fhir(use.device, use.bridge, use.patient, kinds=sorted(use.kinds))
        except FhirMappingError:
            continue  # an id too long for a logical id: reachable only through its readings
        out.append((resource, use.patient))
    return out


@dataclass
class _DeviceUse:
    """What one device reported for one patient: kinds, and the bridge of the newest row."""

    device: str
    patient: str
    bridge: str = ""
    kinds: set[str] = field(default_factory=set)
    last: datetime = datetime.min.replace(tzinfo=UTC)

    def take(self, bridge: str, kind: str, last: datetime) -> None:
        self.kinds.add(kind)
        if last >= self.last:
            self.last, self.bridge = last, bridge


async def _device_rows(
    session: AsyncSession, patients: Patients, device_ids: set[str] | None
) -> list[Any]:
    """(device, patient, bridge, kind, newest time) over readings and chunks."""
    rows: list[Any] = []
    for table, at in ((R, R.measured_at), (C, C.start)):
        stmt = (
            select(table.device_id, table.patient_id, table.bridge_id, table.kind, func.max(at))
            .where(*_patient_filter(table.patient_id, patients))
            .group_by(table.device_id, table.patient_id, table.bridge_id, table.kind)
        )
        if device_ids is not None:
            stmt = stmt.where(table.device_id.in_(sorted(device_ids)))
        rows += (await session.execute(stmt)).all()
    return rows


async def _gateways(
    session: AsyncSession, patients: Patients, bridge_ids: set[str] | None, *, kiosks: bool
) -> list[tuple[JsonDict, str | None]]:
    """Home gateways of ``patients``; kiosks of their telemedpoints when ``kiosks``."""
    home = and_(Bridge.patient_id.is_not(None), *_patient_filter(Bridge.patient_id, patients))
    conds = [home]
    if kiosks:
        points = select(Patient.telemedpoint_id).where(*_patient_filter(Patient.id, patients))
        conds.append(and_(Bridge.patient_id.is_(None), Bridge.telemedpoint_id.in_(points)))
    stmt = select(Bridge).where(or_(*conds))
    if bridge_ids is not None:
        stmt = stmt.where(Bridge.id.in_(sorted(bridge_ids)))
    out: list[tuple[JsonDict, str | None]] = []
    for b in await session.scalars(stmt):
        try:
            resource = gateway_to_fhir(
                b.id, patient_id=b.patient_id, telemedpoint_id=b.telemedpoint_id
            )
        except FhirMappingError:
            continue
        out.append((resource, b.patient_id))
    return out
