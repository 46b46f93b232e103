"""An incident from a monitored patient's confirmed cardiac arrest (the clinician's one action).

The incident takes the patient's home location and a short safe summary: what the monitor saw,
sex and age. No name, no record: a responder needs nothing more to start CPR.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch import repository as repo
from alerts.dispatch.models import Incident
from alerts.dispatch.notices import Notices
from alerts.dispatch.policy import DispatchPolicy
from alerts.dispatch.service import create_incident
from alerts.episodes.service import get_alert
from patient_hub.access import Principal, require_patient
from patient_hub.accounts.models import Role
from patient_hub.findings.models import FindingRow
from patient_hub.patients.models import Patient
from telemed_core.errors import BusinessRuleViolation, Forbidden, InvalidInput, NotFound

#: Findings that mean a cardiac arrest (telemed_signal.lethal_rules), high priority only.
CARDIAC_ARREST_KINDS = {
    "ventricular_flutter_fib": "ventricular fibrillation",
    "asystole": "asystole",
}
#: A finding older than this (since it ended) no longer justifies a call-out.
FRESH_FOR = timedelta(minutes=15)


async def create_incident_from_patient(
    session: AsyncSession,
    policy: DispatchPolicy,
    patient_id: str,
    alert_id: str | None,
    confirmed_by: Principal,
    now: datetime,
    *,
    finding_key: str | None = None,
) -> tuple[Incident, Notices, bool]:
    """Open (or return the already open) incident at the patient's home; True if new."""
    if confirmed_by.role not in (Role.CARDIOLOGIST, Role.NURSE, Role.ADMIN):
        raise Forbidden("only the patient's clinicians confirm a call-out")
    patient = await require_patient(session, confirmed_by, patient_id)
    # What the clinician confirms: the alert engine's cardiac-arrest episode, or the finding.
    if alert_id is not None:
        what = await _arrest_alert(session, patient_id, alert_id)
    elif finding_key is not None:
        what = await _arrest_finding(session, patient_id, finding_key, now)
    else:
        raise BusinessRuleViolation(
            "name the cardiac-arrest alert (alert_id) or finding you confirm"
        )
    existing = await repo.open_incident_of_patient(session, patient_id)
    if existing is not None:
        return existing, Notices(), False
    if patient.home_latitude is None or patient.home_longitude is None:
        raise BusinessRuleViolation(
            "the patient has no home position on record: create the incident from the "
            "dispatch console with the address"
        )
    inc, notices = await create_incident(
        session,
        policy,
        confirmed_by,
        latitude=patient.home_latitude,
        longitude=patient.home_longitude,
        address=_address(patient),
        summary=safe_summary(patient, what, now.date()),
        now=now,
        patient_id=patient_id,
        alert_id=alert_id or finding_key,
    )
    return inc, notices, True


async def _arrest_alert(session: AsyncSession, patient_id: str, alert_id: str) -> str:
    if not alert_id.isdigit():
        raise InvalidInput(f"alert id {alert_id!r} is not a number")
    alert = await get_alert(session, int(alert_id))
    if alert.patient_id != patient_id:
        raise NotFound(f"no alert {alert_id} of patient {patient_id!r}")
    if not alert.is_cardiac_arrest:
        raise BusinessRuleViolation(
            f"alert {alert_id} is {alert.kind} ({alert.priority}), not a high cardiac-arrest alert"
        )
    if alert.state == "resolved":
        raise BusinessRuleViolation(f"alert {alert_id} is resolved")
    return "cardiac arrest alarm"


async def _arrest_finding(session: AsyncSession, patient_id: str, key: str, now: datetime) -> str:
    finding = await repo.finding_by_key(session, key)
    if finding is None or finding.patient_id != patient_id:
        raise NotFound(f"no finding {key!r} of patient {patient_id!r}")
    if finding.kind not in CARDIAC_ARREST_KINDS or finding.severity != "high":
        raise BusinessRuleViolation(
            f"{finding.kind} ({finding.severity}) is not a cardiac arrest; first responders go "
            "only to asystole or ventricular fibrillation"
        )
    if _stale(finding, now):
        raise BusinessRuleViolation("this finding ended more than 15 minutes ago")
    return CARDIAC_ARREST_KINDS[finding.kind]


def _stale(finding: FindingRow, now: datetime) -> bool:
    return finding.end is not None and now - finding.end > FRESH_FOR


def _address(patient: Patient) -> str:
    parts = [p for p in (patient.address_line, patient.postal_code, patient.city) if p]
    return ", ".join(parts) or f"{patient.home_latitude:.5f}, {patient.home_longitude:.5f}"


def safe_summary(patient: Patient, what: str, today: date) -> str:
    """'Suspected cardiac arrest: ventricular fibrillation on the home monitor. Man, 67.'"""
    who = {"male": "Man", "female": "Woman"}.get(patient.sex or "", "Adult")
    if patient.birth_date is not None:
        b = patient.birth_date
        age = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
        who += f", {age}"
    return f"Suspected cardiac arrest: {what} on the home monitor. {who}."
