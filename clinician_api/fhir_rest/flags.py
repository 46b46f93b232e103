"""FHIR R4 ``Flag`` read and search under /fhir: the alerts the user may see."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from alerts.episodes import actions
from alerts.episodes import repository as repo
from alerts.episodes.fhir import alert_to_flag
from clinician_api.deps import CurrentPrincipal, Session
from clinician_api.fhir_rest.outcome import fhir_response
from telemed_core.errors import InvalidInput, NotFound

router = APIRouter(prefix="/fhir", tags=["fhir"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _alert_id(fhir_id: str) -> int:
    if not fhir_id.startswith("alert-") or not fhir_id[6:].isdigit():
        raise NotFound(f"no Flag {fhir_id!r}")
    return int(fhir_id[6:])


@router.get("/Flag/{flag_id}")
async def read_flag(flag_id: str, session: Session, who: CurrentPrincipal) -> JSONResponse:
    ep = await actions.visible_alert(session, who, _alert_id(flag_id))
    return fhir_response(alert_to_flag(ep))


@router.get("/Flag")
async def search_flags(
    request: Request,
    session: Session,
    who: CurrentPrincipal,
    patient: str | None = None,
    status: Annotated[str | None, Query(pattern="^(active|inactive)$")] = None,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 100,
) -> JSONResponse:
    """``patient`` (id or ``Patient/id``) and ``status``; newest first."""
    unknown = set(request.query_params) - {"patient", "status", "_count"}
    if unknown:
        raise InvalidInput(f"unsupported Flag search parameters: {sorted(unknown)}")
    subjects = await actions.alert_subjects(session, who)
    pid = patient.removeprefix("Patient/") if patient else None
    found = await repo.search(
        session, repo.AlertFilter(subjects, patient=pid, open_only=status == "active", limit=count)
    )
    if status == "inactive":
        found = [ep for ep in found if ep.open_key is None]
    found = [
        ep
        for ep in found
        if ep.state != "pending" and (who.role.value != "cardiologist" or ep.category == "clinical")
    ]
    base = _base(request)
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(found),
        "link": [{"relation": "self", "url": str(request.url)}],
        "entry": [
            {
                "fullUrl": f"{base}/Flag/alert-{ep.id}",
                "resource": alert_to_flag(ep),
                "search": {"mode": "match"},
            }
            for ep in found
        ],
    }
    return fhir_response(bundle)
