"""REST: a patient's measurement schedules (``GET``/``POST /api/patients/{id}/schedules``)."""

# No ``from __future__ import annotations``: FastAPI resolves the annotations at run time, and
# the dependency aliases are local to build_router.
from collections.abc import Awaitable, Callable
from datetime import time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.adherence.models import MeasurementSchedule
from alerts.adherence.service import add_schedule
from patient_hub.access import Principal, require_patient
from patient_hub.accounts.models import Role
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden
from telemed_core.kinds import Kind


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind
    local_time: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM in the patient's zone")
    grace_min: int = Field(default=60, ge=1, le=24 * 60)
    misses_before_alert: int = Field(default=2, ge=1, le=30)

    @field_validator("local_time")
    @classmethod
    def _clock_time(cls, v: str) -> str:
        time.fromisoformat(v)  # 25:00 is refused
        return v


class ScheduleOut(BaseModel):
    id: int
    patient_id: str
    kind: str
    local_time: str
    timezone: str
    grace_min: int
    misses_before_alert: int
    consecutive_misses: int


def _out(s: MeasurementSchedule) -> ScheduleOut:
    return ScheduleOut(
        id=s.id, patient_id=s.patient_id, kind=s.kind, local_time=s.local_time,
        timezone=s.timezone, grace_min=s.grace_min, misses_before_alert=s.misses_before_alert,
        consecutive_misses=s.consecutive_misses,
    )  # fmt: skip


def build_router(
    session_dep: Callable[..., Any], principal_dep: Callable[..., Awaitable[Principal]]
) -> APIRouter:
    router = APIRouter(prefix="/api/patients", tags=["alerts"])
    SessionT = Annotated[AsyncSession, Depends(session_dep, scope="function")]
    Who = Annotated[Principal, Depends(principal_dep)]

    @router.get("/{patient_id}/schedules", response_model=list[ScheduleOut])
    async def list_schedules(patient_id: str, session: SessionT, who: Who) -> list[ScheduleOut]:
        await require_patient(session, who, patient_id)
        stmt = select(MeasurementSchedule).where(MeasurementSchedule.patient_id == patient_id)
        return [
            _out(s)
            for s in (await session.scalars(stmt.order_by(MeasurementSchedule.local_time))).all()
        ]

    @router.post("/{patient_id}/schedules", response_model=ScheduleOut, status_code=201)
    async def create_schedule(
        patient_id: str, body: ScheduleIn, request: Request, session: SessionT, who: Who
    ) -> ScheduleOut:
        """A daily measurement at ``local_time`` in the patient's time zone (nurses, admin)."""
        if who.role not in (Role.NURSE, Role.ADMIN, Role.CARDIOLOGIST):
            raise Forbidden("schedules are set by the care team")
        patient = await require_patient(session, who, patient_id)
        ZoneInfo(patient.timezone)
        hub: HubContext = request.app.state.hub
        sched = await add_schedule(
            session, patient, body.kind.value, body.local_time, hub.clock(),
            grace_min=body.grace_min, misses_before_alert=body.misses_before_alert,
        )  # fmt: skip
        return _out(sched)

    return router
