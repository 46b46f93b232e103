"""API shapes of patients and readings (kept apart from the ORM models)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import BaseModel, Field, field_validator, model_validator

from telemed_core.birth_number import parse_birth_number
from telemed_core.errors import InvalidInput
from telemed_core.values import Identifier

Text = Annotated[str, Field(min_length=1, max_length=200)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Sex = Literal["male", "female", "other", "unknown"]
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
EARLIEST_BIRTH = date(1890, 1, 1)


class PatientRecord(BaseModel):
    """The demographic part of a patient (all optional: older records have none)."""

    family_name: Name | None = None
    given_name: Name | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    national_id: str | None = Field(
        default=None, description="Czech birth number, YYMMDD/XXXX (validated by its rules)"
    )
    address_line: Text | None = None
    city: Name | None = None
    postal_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z -]{3,16}$")] | None = None
    country: (
        Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")] | None
    ) = None
    home_latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    home_longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +420601234567")
    treating_doctor: Text | None = None
    insurer: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    timezone: str = "Europe/Prague"
    is_test: bool = Field(default=False, description="simulated data (FHIR security label HTEST)")

    @field_validator("national_id")
    @classmethod
    def _birth_number(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_birth_number(value).normalized
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = re.sub(r"[ ()-]", "", value)
        if not _E164.match(compact):
            raise ValueError("phone must be in international form, e.g. +420 601 234 567")
        return compact

    @field_validator("birth_date")
    @classmethod
    def _plausible_birth(cls, value: date | None) -> date | None:
        if value is not None and not EARLIEST_BIRTH <= value <= date.today():
            raise ValueError(f"birth_date must lie between {EARLIEST_BIRTH} and today")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value != "UTC" and value not in available_timezones():
            raise ValueError(f"{value!r} is not an IANA time zone")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PatientRecord:
        if (self.home_latitude is None) != (self.home_longitude is None):
            raise ValueError("home_latitude and home_longitude go together")
        if self.national_id is not None:
            number = parse_birth_number(self.national_id)
            if self.birth_date is not None and self.birth_date != number.birth_date:
                raise ValueError(
                    f"birth_date {self.birth_date} differs from the birth number's "
                    f"{number.birth_date}"
                )
            if self.sex in ("male", "female") and self.sex != number.sex:
                raise ValueError(f"sex {self.sex} differs from the birth number's ({number.sex})")
            self.birth_date = number.birth_date
        return self


class PatientOut(PatientRecord):
    id: str
    display_name: str
    programme: str
    telemedpoint_id: str | None


class PatientIn(PatientRecord):
    id: Identifier
    display_name: Text | None = Field(
        default=None, description="default: given name and family name"
    )
    programme: str = "heart_failure"
    telemedpoint_id: Identifier | None = None

    @model_validator(mode="after")
    def _named(self) -> PatientIn:
        if self.display_name is None:
            parts = [p for p in (self.given_name, self.family_name) if p]
            if not parts:
                raise ValueError("give display_name, or given_name and family_name")
            self.display_name = " ".join(parts)
        return self


class EnrolledOut(PatientOut):
    possible_duplicates: list[str] = Field(
        default_factory=list,
        description="ids of other patients with the same name and birth date: check before "
        "going on (the record was saved)",
    )


class ReadingOut(BaseModel):
    bridge_id: str
    seq: int
    patient_id: str
    device_id: str
    kind: str
    value: float | None
    unit: str
    measured_at: datetime
    device_time: datetime | None
    received_at: datetime | None
    stored_at: datetime
    flags: list[str]


class BridgeIn(BaseModel):
    bridge_id: Identifier
    patient_id: Identifier | None = None
    telemedpoint_id: Identifier | None = None


class BridgeOut(BaseModel):
    bridge_id: str
    token: str = Field(description="shown once; stored only as a hash")


class TelemedpointIn(BaseModel):
    id: Identifier
    name: str = Field(min_length=1, max_length=200)


class CareTeamIn(BaseModel):
    username: str
    patient_id: Identifier


class FindingOut(BaseModel):
    key: str
    patient_id: str
    kind: str
    start: datetime
    end: datetime | None
    severity: str
    method: str
    values: dict[str, object]
    window_s: float | None
    explanation: str  # English, as the rule wrote it
    #: the same as a key of telemed_core.explanations.TEMPLATES and its arguments ("" and {}
    #: for findings stored before keys existed): the screens render it in the reader's language
    explanation_key: str = ""
    explanation_args: dict[str, object] = {}
