"""An incident from a monitored patient's confirmed cardiac arrest."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from alerts.dispatch.from_patient import create_incident_from_patient
from alerts.dispatch.policy import DispatchPolicy
from patient_hub.access import Principal
from patient_hub.accounts.models import Role, User
from patient_hub.findings.models import FindingRow
from patient_hub.patients.models import CareTeamMember, Patient
from telemed_core.errors import BusinessRuleViolation, NotFound
from tests.alerts.dispatch.helpers import CENTRE, NOW, add_responder

CARDIO = Principal("usr_cardio", "cardio", Role.CARDIOLOGIST)
POLICY = DispatchPolicy()


async def patient(session: AsyncSession, *, home: bool = True, kind: str = "ventricular_flutter_fib",
                  severity: str = "high", ended_ago: timedelta | None = None) -> str:  # fmt: skip
    session.add(User(id="usr_cardio", username="cardio", password_hash="x", role="cardiologist"))
    session.add(Patient(id="p1", display_name="Jan Novák", created_at=NOW, sex="male",
                        birth_date=date(1958, 11, 23), address_line="Nádražní 12", city="Ostrava",
                        postal_code="702 00", home_latitude=CENTRE[0] if home else None,
                        home_longitude=CENTRE[1] if home else None))  # fmt: skip
    await session.flush()
    session.add(CareTeamMember(user_id="usr_cardio", patient_id="p1"))
    end = NOW - ended_ago if ended_ago else None
    session.add(FindingRow(key="p1|vf", patient_id="p1", kind=kind, start=NOW - timedelta(minutes=1),
                           end=end, severity=severity, method="m", values={}, explanation="",
                           updated_at=NOW))  # fmt: skip
    await session.flush()
    return "p1|vf"


async def test_the_incident_takes_the_home_and_a_safe_summary(session: AsyncSession) -> None:
    key = await patient(session)
    await add_responder(session, 0, 150.0)
    inc, notices, new = await create_incident_from_patient(
        session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
    )
    assert new and (inc.latitude, inc.longitude) == CENTRE
    assert inc.address == "Nádražní 12, 702 00, Ostrava"
    assert inc.summary == (
        "Suspected cardiac arrest: ventricular fibrillation on the home monitor. Man, 68."
    )
    assert "Novák" not in inc.summary
    assert any(n.frame["type"] == "offer" for n in notices.items)


async def test_confirming_twice_returns_the_open_incident(session: AsyncSession) -> None:
    key = await patient(session)
    first, _, _ = await create_incident_from_patient(
        session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
    )
    again, notices, new = await create_incident_from_patient(
        session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
    )
    assert again.id == first.id and not new and not notices.items


async def test_a_finding_that_is_not_an_arrest_is_refused(session: AsyncSession) -> None:
    key = await patient(session, kind="spo2_sustained_low", severity="medium")
    with pytest.raises(BusinessRuleViolation, match="not a cardiac arrest"):
        await create_incident_from_patient(
            session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
        )


async def test_an_old_finding_is_refused(session: AsyncSession) -> None:
    key = await patient(session, ended_ago=timedelta(minutes=20))
    with pytest.raises(BusinessRuleViolation, match="ended more than 15 minutes ago"):
        await create_incident_from_patient(
            session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
        )


async def test_a_patient_without_a_home_position_is_sent_to_the_dispatcher(
    session: AsyncSession,
) -> None:
    key = await patient(session, home=False)
    with pytest.raises(BusinessRuleViolation, match="dispatch console"):
        await create_incident_from_patient(
            session, POLICY, "p1", None, CARDIO, NOW, finding_key=key
        )


async def test_a_clinician_outside_the_care_team_cannot_send(session: AsyncSession) -> None:
    key = await patient(session)
    other = Principal("usr_other", "other", Role.CARDIOLOGIST)
    with pytest.raises(NotFound):
        await create_incident_from_patient(session, POLICY, "p1", None, other, NOW, finding_key=key)


async def alert(session: AsyncSession, kind: str = "cardiac_arrest", priority: str = "high",
                state: str = "accepted", patient_id: str = "p1") -> str:  # fmt: skip
    from alerts.episodes.models import AlertEpisode

    row = AlertEpisode(patient_id=patient_id, rule=kind, kind=kind, category="clinical",
                       priority=priority, state=state, title=kind, chain="clinical",
                       opened_at=NOW, updated_at=NOW)  # fmt: skip
    session.add(row)
    await session.flush()
    return str(row.id)


async def test_a_high_cardiac_arrest_alert_sends_responders(session: AsyncSession) -> None:
    await patient(session)
    alert_id = await alert(session)
    inc, _, new = await create_incident_from_patient(session, POLICY, "p1", alert_id, CARDIO, NOW)
    assert new and inc.alert_id == alert_id
    assert inc.summary.startswith("Suspected cardiac arrest: cardiac arrest alarm")


async def test_an_alert_that_is_not_a_high_cardiac_arrest_is_refused(
    session: AsyncSession,
) -> None:
    await patient(session)
    alert_id = await alert(session, kind="spo2_low", priority="medium")
    with pytest.raises(BusinessRuleViolation, match="not a high cardiac-arrest alert"):
        await create_incident_from_patient(session, POLICY, "p1", alert_id, CARDIO, NOW)


async def test_another_patients_alert_is_not_found(session: AsyncSession) -> None:
    await patient(session)
    session.add(Patient(id="p2", display_name="Other", created_at=NOW))
    await session.flush()
    alert_id = await alert(session, patient_id="p2")
    with pytest.raises(NotFound):
        await create_incident_from_patient(session, POLICY, "p1", alert_id, CARDIO, NOW)
