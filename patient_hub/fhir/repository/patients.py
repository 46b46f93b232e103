"""Patient search, count and resources."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    false,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.fhir.common import JsonDict
from patient_hub.fhir.patient_sql import patient_demographic_conditions
from patient_hub.fhir.repository.conditions import _dates, _patient_filter
from patient_hub.fhir.repository.loading import with_meta
from patient_hub.fhir.repository.results import Patients
from patient_hub.fhir.resources import patient_to_fhir
from patient_hub.fhir.search.queries import PatientQuery
from patient_hub.patients.models import Patient


async def search_patients(
    session: AsyncSession, q: PatientQuery, visible: Patients
) -> tuple[list[Patient], bool]:
    """A page of patients (offset paging: patients are few) and whether more follow."""
    stmt = select(Patient).where(*_patient_query(q, visible))
    key = Patient.created_at if q.page.sort.key == "_lastUpdated" else Patient.id
    order = [key, Patient.id]
    stmt = stmt.order_by(*(c.desc() if q.page.sort.descending else c.asc() for c in order))
    rows = list(await session.scalars(stmt.offset(q.page.offset).limit(q.page.count + 1)))
    return rows[: q.page.count], len(rows) > q.page.count


def patient_resource(patient: Patient) -> JsonDict:
    """The Patient resource, ``meta.lastUpdated`` = when the hub first stored the patient."""
    return with_meta(patient_to_fhir(patient), patient.created_at)


async def patient_ids(session: AsyncSession, visible: Patients) -> list[str]:
    """Ids of the patients in ``visible`` (None: every patient) that exist, sorted."""
    stmt = select(Patient.id).where(*_patient_filter(Patient.id, visible)).order_by(Patient.id)
    return list(await session.scalars(stmt))


async def count_patients(session: AsyncSession, q: PatientQuery, visible: Patients) -> int:
    stmt = select(func.count()).select_from(Patient).where(*_patient_query(q, visible))
    return int(await session.scalar(stmt) or 0)


def _patient_query(q: PatientQuery, visible: Patients) -> list[Any]:
    conds = _patient_filter(Patient.id, visible) + _dates(q.last_updated, Patient.created_at)
    if q.ids is not None:
        conds.append(Patient.id.in_(sorted(q.ids)) if q.ids else false())
    conds += patient_demographic_conditions(q)
    if visible is not None and not visible:
        conds.append(false())
    return conds or [true()]
