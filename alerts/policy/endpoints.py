"""REST: a patient's alert thresholds: ``GET /api/patients/{id}/alert-policy`` (the rules in
force; each parameter of each rule with its own provenance under ``parameters``, the rule's
latest change under ``provenance``; and the history of changes) and ``POST
/api/patients/{id}/alert-policy`` (a clinician's override: rule, parameter, value, reason,
optional expiry)."""

# No ``from __future__ import annotations``: FastAPI resolves the annotations at run time, and
# the dependency aliases are local to build_router.
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.policy import repository as repo
from alerts.policy import service
from alerts.policy.models import ThresholdOverride
from alerts.policy.rules import PARAMETERS
from patient_hub.access import Principal, require_patient
from patient_hub.accounts.models import Role
from patient_hub.audit import service as audit
from patient_hub.runtime import HubContext
from telemed_core.errors import Forbidden


class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: str = Field(max_length=64)
    parameter: str = Field(max_length=32)
    value: float = Field(allow_inf_nan=False)
    reason: str = Field(max_length=1000)
    expires_at: datetime | None = None


def _override(o: ThresholdOverride) -> dict[str, Any]:
    return {
        "rule": o.rule, "parameter": o.parameter, "value": o.value, "set_by": o.set_by,
        "set_at": o.set_at.isoformat(), "reason": o.reason,
        "expires_at": o.expires_at.isoformat() if o.expires_at else None,
    }  # fmt: skip


def build_router(
    session_dep: Callable[..., Any], principal_dep: Callable[..., Awaitable[Principal]]
) -> APIRouter:
    router = APIRouter(prefix="/api/patients", tags=["alerts"])
    SessionT = Annotated[AsyncSession, Depends(session_dep, scope="function")]
    Who = Annotated[Principal, Depends(principal_dep)]

    def now(request: Request) -> datetime:
        hub: HubContext = request.app.state.hub
        return hub.clock()

    @router.get("/{patient_id}/alert-policy")
    async def get_policy(
        patient_id: str, request: Request, session: SessionT, who: Who
    ) -> dict[str, Any]:
        await require_patient(session, who, patient_id)
        rules = await service.reading_rules(session, patient_id, now(request))
        await audit.record(
            session, actor=who, action="read", entity_type="AlertPolicy", entity_id=patient_id,
            patient_id=patient_id,
        )  # fmt: skip
        return {
            "patient_id": patient_id,
            "reading_rules": [
                {"rule": r.name, "title": r.title, "kinds": list(r.kinds), "direction": "below" if r.below else "above",
                 "trigger": r.trigger, "clear": r.clear, "persistence_s": r.persistence_s,
                 "rapid": r.rapid, "priority": r.priority.value, "unit": r.unit,
                 "provenance": r.provenance.as_json(),
                 "parameters": {p: {"value": getattr(r, p), "provenance": r.provenance_of(p).as_json()}
                                for p in PARAMETERS}}
                for r in rules
            ],
            "history": [_override(o) for o in await repo.history(session, patient_id)],
        }  # fmt: skip

    @router.post("/{patient_id}/alert-policy", status_code=201)
    async def set_threshold(
        patient_id: str, body: OverrideIn, request: Request, session: SessionT, who: Who
    ) -> dict[str, Any]:
        """A clinician changes one threshold of one rule for this patient (takes effect within
        the policy cache's 30 s in every worker)."""
        if who.role not in (Role.CARDIOLOGIST, Role.NURSE, Role.ADMIN):
            raise Forbidden("thresholds are set by clinicians")
        await require_patient(session, who, patient_id)
        row = await service.set_override(
            session, patient_id, body.rule, body.parameter, body.value, by=who.username,
            reason=body.reason, now=now(request), expires_at=body.expires_at,
        )  # fmt: skip
        await audit.record(
            session, actor=who, action="update", entity_type="AlertPolicy", entity_id=patient_id,
            patient_id=patient_id, detail={"rule": body.rule, "parameter": body.parameter,
                                           "value": body.value, "reason": body.reason},
        )  # fmt: skip
        return _override(row)

    return router
