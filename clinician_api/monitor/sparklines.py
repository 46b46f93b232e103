"""``/api/monitor/sparklines``: 24 h of each visible patient's main vitals, 30 min means, for
the group monitor's tiles (loaded after the first paint, in one query)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from sqlalchemy import select

from clinician_api.deps import CurrentPrincipal, Session
from patient_hub.access import visible_patient_ids
from patient_hub.audit import service as audit
from patient_hub.patients.models import Patient
from patient_hub.readings.repository import sparklines
from telemed_core.values import utc_now

router = APIRouter(tags=["monitor"])
KINDS = ("heart_rate", "spo2", "bp_systolic", "body_weight")
BUCKET_S = 1800


@router.get("/api/monitor/sparklines")
async def monitor_sparklines(
    session: Session, who: CurrentPrincipal
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """``{patient id: {kind: [[epoch s, mean], ...]}}`` over the last 24 h."""
    visible = await visible_patient_ids(session, who)
    if visible is None:
        ids = list(await session.scalars(select(Patient.id)))
    else:
        ids = sorted(visible)
    now = utc_now()
    rows = await sparklines(session, ids, KINDS, now - timedelta(hours=24), now, BUCKET_S)
    out: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for patient_id, kind, t, mean in rows:
        out.setdefault(patient_id, {}).setdefault(kind, []).append((t, round(mean, 2)))
    await audit.record_many(
        session, actor=who, action="read", entity_type="Monitor", entity_id="sparklines",
        patient_ids=sorted(out),
    )  # fmt: skip
    return out
