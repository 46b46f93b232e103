"""Kiosk enrolment (admin token → ``telemed kiosk setup``), kiosks' last contact, and
teleconsultation requests from kiosks as clinician tasks."""

from __future__ import annotations

from fastapi import APIRouter, Query

from clinician_api.deps import Admin, CurrentPrincipal, Session
from clinician_api.kiosk.schemas import (
    EnrolmentTokenIn,
    EnrolmentTokenOut,
    KioskEnrolIn,
    KioskEnrolOut,
    KioskOut,
    TaskDetailOut,
    TaskOut,
    TaskUpdateIn,
)
from clinician_api.patients.endpoints import reading_out
from patient_hub.access import require_patient, visible_patient_ids
from patient_hub.accounts.models import Role
from patient_hub.kiosk import repository, service
from patient_hub.kiosk.models import TeleconsultRequest
from telemed_core.errors import Forbidden, NotFound
from telemed_core.values import utc_now

router = APIRouter(tags=["kiosk"])
CLINICIANS = (Role.NURSE, Role.CARDIOLOGIST, Role.ADMIN)


def _task_out(t: TeleconsultRequest) -> TaskOut:
    return TaskOut.model_validate(t, from_attributes=True)


@router.post("/api/kiosks/enrolment-tokens", response_model=EnrolmentTokenOut, status_code=201)
async def create_enrolment_token(
    body: EnrolmentTokenIn, session: Session, _: Admin
) -> EnrolmentTokenOut:
    """A one-time token (24 h) for ``telemed kiosk setup --hub URL --token TOKEN``."""
    now = utc_now()
    token = await service.create_enrolment(session, body.telemedpoint_id, now)
    return EnrolmentTokenOut(
        enrolment_token=token,
        telemedpoint_id=body.telemedpoint_id,
        expires_at=now + service.ENROLMENT_TTL,
    )


@router.post("/api/kiosks/enrol", response_model=KioskEnrolOut, status_code=201)
async def enrol_kiosk(body: KioskEnrolIn, session: Session) -> KioskEnrolOut:
    """Spend an enrolment token: the kiosk gets its bridge id and token (shown once)."""
    kiosk = await service.enrol_kiosk(session, body.enrolment_token, body.kiosk_name, utc_now())
    return KioskEnrolOut(
        bridge_id=kiosk.bridge_id,
        token=kiosk.token,
        telemedpoint_id=kiosk.telemedpoint_id,
        telemedpoint_name=kiosk.telemedpoint_name,
    )


@router.get("/api/kiosks", response_model=list[KioskOut])
async def list_kiosks(session: Session, _: Admin) -> list[KioskOut]:
    """Every kiosk and when the hub last heard from it (hello, batch or heartbeat)."""
    return [
        KioskOut(bridge_id=b.id, telemedpoint_id=b.telemedpoint_id, last_seen_at=b.last_seen_at)
        for b in await repository.kiosks(session)
    ]


@router.get("/api/teleconsults", response_model=list[TaskOut])
async def list_tasks(
    session: Session,
    who: CurrentPrincipal,
    status: str | None = Query(default=None, pattern=r"^(open|accepted|done)$"),
) -> list[TaskOut]:
    """Teleconsultation requests of the patients the clinician may see, newest first."""
    if who.role not in CLINICIANS:
        raise Forbidden("clinicians only")
    visible = await visible_patient_ids(session, who)
    return [_task_out(t) for t in await repository.consults(session, visible, status)]


@router.get("/api/teleconsults/{request_id}", response_model=TaskDetailOut)
async def get_task(request_id: str, session: Session, who: CurrentPrincipal) -> TaskDetailOut:
    """One request with the visit attached: the readings the kiosk sent during the visit."""
    task = await _visible_task(session, who, request_id)
    readings = [reading_out(r) for r in await repository.visit_readings(session, task)]
    return TaskDetailOut(**_task_out(task).model_dump(), readings=readings)


@router.post("/api/teleconsults/{request_id}", response_model=TaskOut)
async def update_task(
    request_id: str, body: TaskUpdateIn, session: Session, who: CurrentPrincipal
) -> TaskOut:
    """Accept or close a request, optionally with the video-call link for the nurse."""
    await _visible_task(session, who, request_id)
    task = await service.update_task(
        session, request_id, body.status, body.video_url, who.username, utc_now()
    )
    return _task_out(task)


async def _visible_task(
    session: Session, who: CurrentPrincipal, request_id: str
) -> TeleconsultRequest:
    if who.role not in CLINICIANS:
        raise Forbidden("clinicians only")
    task = await repository.consult(session, request_id)
    if task is None:
        raise NotFound(f"no teleconsultation request {request_id!r}")
    await require_patient(session, who, task.patient_id)
    return task
