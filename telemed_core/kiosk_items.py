"""What a telemedpoint kiosk sends besides readings: patient registrations and teleconsultation
requests. They travel in protocol v1 batches (``Batch.patients``, ``Batch.consults``) through the
kiosk's durable outbox, numbered like readings, so a registration made offline reaches the hub
when the link returns, before the readings that name its patient.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from telemed_core.birth_number import parse_birth_number
from telemed_core.errors import InvalidInput
from telemed_core.values import Identifier, UtcDatetime

Sex = Literal["male", "female", "other", "unknown"]
Addressee = Literal["treating_doctor", "centre"]


class PatientRegistration(BaseModel):
    """A patient registered (or re-identified) at a kiosk.

    ``patient_id`` is the id the kiosk uses in its readings: the hub's id of a patient the kiosk
    already knew, or an id of its own for a new registration. The hub merges a registration into
    an existing patient by ``national_id`` (the Czech birth number), else by name and birth date,
    and from then on maps the kiosk's id to that patient: nobody is registered twice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    patient_id: Identifier
    family_name: str = Field(min_length=1, max_length=100)
    given_name: str = Field(min_length=1, max_length=100)
    birth_date: date
    sex: Sex = "unknown"
    national_id: str | None = Field(default=None, max_length=32)
    insurer: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    treating_doctor: str | None = Field(default=None, max_length=200)
    consent_at: UtcDatetime
    id_checked: bool
    registered_at: UtcDatetime
    registered_by: str = Field(min_length=1, max_length=100)

    @field_validator("national_id")
    @classmethod
    def _valid_birth_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_birth_number(value).normalized
        except InvalidInput as exc:
            raise ValueError(exc.message) from exc


class ConsultRequest(BaseModel):
    """The nurse asks the treating doctor or the monitoring centre to look at a visit.

    The visit is attached by its patient, kiosk and time span: the hub shows the readings the
    kiosk sent for that patient between ``visit_started_at`` and ``visit_ended_at``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    request_id: Identifier
    patient_id: Identifier
    addressee: Addressee
    reason: str = Field(min_length=1, max_length=2000)
    video_url: str | None = Field(default=None, max_length=500)
    visit_id: Identifier
    visit_started_at: UtcDatetime
    visit_ended_at: UtcDatetime | None = None
    summary: str = Field(default="", max_length=4000)
    requested_by: str = Field(min_length=1, max_length=100)
    requested_at: UtcDatetime
