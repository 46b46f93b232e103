"""Adding notes and contacts: a contact needs its channel and structured outcome. Never
commits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from patient_hub.access import Principal
from patient_hub.accounts.models import Role
from patient_hub.notes import repository as repo
from patient_hub.notes.models import ContactChannel, ContactOutcome, NoteKind, PatientNote
from telemed_core.errors import Forbidden, InvalidInput

MAX_TEXT = 4000
#: Who keeps the record: the monitoring centre and the telemedpoint nurses.
WRITERS = frozenset({Role.NURSE, Role.CARDIOLOGIST, Role.ADMIN})


def _check(kind: NoteKind, channel: ContactChannel | None, outcome: ContactOutcome | None) -> None:
    if kind is NoteKind.CONTACT and (channel is None or outcome is None):
        raise InvalidInput("a contact needs its channel and its outcome")
    if kind is NoteKind.NOTE and (channel is not None or outcome is not None):
        raise InvalidInput("a note has no channel or outcome; record a contact instead")


async def add_note(
    session: AsyncSession,
    who: Principal,
    patient_id: str,
    text: str,
    at: datetime,
    *,
    kind: NoteKind = NoteKind.NOTE,
    channel: ContactChannel | None = None,
    outcome: ContactOutcome | None = None,
) -> PatientNote:
    """Store a note or contact about a patient the caller may already see."""
    if who.role not in WRITERS:
        raise Forbidden("only clinicians keep notes")
    text = text.strip()
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput(f"the text must have 1-{MAX_TEXT} characters")
    _check(kind, channel, outcome)
    note = PatientNote(
        patient_id=patient_id, author_id=who.user_id, author=who.username, at=at,
        kind=kind.value, channel=channel.value if channel else None,
        outcome=outcome.value if outcome else None, text=text,
    )  # fmt: skip
    return await repo.add(session, note)
