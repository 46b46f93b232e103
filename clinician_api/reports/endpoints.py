"""``GET /api/patients/{id}/report.pdf``: the period report for the GP or cardiologist."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response

from alerts.episodes import repository as episodes_repo
from alerts.notify import repository as notify_repo
from clinician_api.deps import CurrentPrincipal, Session
from clinician_api.explain import render_explanation
from clinician_api.i18n import language_for
from clinician_api.patient_view.history import reminders_out
from clinician_api.reports.pdf import ReportData, render
from patient_hub.access import require_patient
from patient_hub.accounts.models import Role, User
from patient_hub.audit import service as audit
from patient_hub.findings.repository import findings_of_patient
from patient_hub.notes import repository as notes_repo
from patient_hub.readings import repository as readings_repo
from patient_hub.readings import schedule
from patient_hub.readings import service as readings
from telemed_core.errors import Forbidden, InvalidInput
from telemed_core.values import utc_now

router = APIRouter(tags=["reports"])
MAX_DAYS = 366


def _period(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    until = until or today
    since = since or until - timedelta(days=29)
    if since > until:
        raise InvalidInput("since must not be after until")
    if (until - since).days >= MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days")
    return since, until


async def _daily(
    session: Session, patient_id: str, start: datetime, end: datetime
) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for kind in ("bp_systolic", "bp_diastolic", "heart_rate", "spo2", "body_weight"):
        rows = await readings_repo.bucketed(session, patient_id, kind, start, end, 86400)
        out[kind] = [(t, mean) for t, _, mean, _, _ in rows]
    return out


@router.get("/api/patients/{patient_id}/report.pdf", response_class=Response)
async def period_report(
    patient_id: str,
    session: Session,
    who: CurrentPrincipal,
    since: date | None = None,
    until: date | None = None,
) -> Response:
    """Averages, daily trend charts, home BP, findings, alert episodes and their outcomes,
    contacts, adherence and the reminders sent, over a period of
    local days (default: the last 30), as PDF. Clinicians and admins; the export is audited."""
    if who.role not in (Role.NURSE, Role.CARDIOLOGIST, Role.ADMIN):
        raise Forbidden("reports are for clinicians")
    patient = await require_patient(session, who, patient_id)
    reader = await session.get(User, who.user_id)
    zone, now = ZoneInfo(patient.timezone), utc_now()
    first, last = _period(since, until, now.astimezone(zone).date())
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    language = language_for(who.role, reader.language if reader else None)
    findings = [
        (
            f.start,
            f.kind,
            f.severity,
            render_explanation(f.explanation_key, f.explanation_args, language, zone)
            or f.explanation,
        )
        for f in reversed(await findings_of_patient(session, patient_id, since=start, limit=200))
        if f.start < end
    ]
    contacts = [
        (n.at, n.channel or "", n.outcome or "", n.text)
        for n in reversed(await notes_repo.of_patient(session, patient_id, 500))
        if n.kind == "contact" and start <= n.at < end
    ]
    data = ReportData(
        patient_name=patient.display_name, patient_id=patient.id, programme=patient.programme,
        language=language,
        since=first, until=last, zone=zone, author=who.username, generated_at=now,
        stats=await readings_repo.stats_by_kind(session, patient_id, start, end),
        home_bp=await readings.home_bp(session, patient_id, zone, min(end, now)),
        daily=await _daily(session, patient_id, start, end), findings=findings,
        contacts=contacts,
        episodes=[
            (e.opened_at, e.title, e.priority, e.state, e.accepted_by or "", e.outcome or "")
            for e in await episodes_repo.of_patient_between(session, patient_id, start, end)
        ],
        reminders=[
            (r.at, notify_repo.REMINDER_SUBJECT, ", ".join(f"{d.channel} ({d.status})" for d in r.deliveries))
            for r in reminders_out(list(await notify_repo.reminders_of(session, patient_id, start, end)))
        ],
        adherence=await schedule.period_adherence(
            session, patient_id, patient.programme, zone, start, min(end, now)
        ),
    )  # fmt: skip
    # Laying out and compressing the PDF is seconds of pure-Python CPU on a busy machine: in a
    # thread it shares the interpreter with the event loop instead of freezing every live
    # screen and stream of this process until it is done.
    pdf = await asyncio.to_thread(render, data)
    await audit.record(
        session, actor=who, action="export", entity_type="Report", entity_id=patient_id,
        patient_id=patient_id, detail={"since": first.isoformat(), "until": last.isoformat()},
    )  # fmt: skip
    name = f"report-{patient_id}-{first:%Y%m%d}-{last:%Y%m%d}.pdf"
    return Response(
        pdf, media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip
