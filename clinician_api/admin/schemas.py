"""API shapes of the admin screens: accounts, memberships, cohorts, enrolment."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from clinician_api.devices.schemas import DeviceIn, RegisteredDeviceOut
from clinician_api.patients.schemas import EnrolledOut, PatientIn
from telemed_core.values import Identifier

Username = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\s/]+$")]
#: Long enough for any passphrase; the policy (``security.check_password_policy``) says the rest.
Password = Annotated[str, Field(min_length=1, max_length=200)]
RoleName = Literal["patient", "nurse", "cardiologist", "responder", "dispatcher", "admin"]


class UserIn(BaseModel):
    username: Username
    role: RoleName
    password: Password
    patient_id: Identifier | None = Field(default=None, description="role patient: whose account")
    telemedpoint_id: Identifier | None = Field(default=None, description="role nurse: her point")


class UserOut(BaseModel):
    user_id: str
    username: str
    role: str
    active: bool
    patient_id: str | None
    telemedpoint_id: str | None
    language: str | None
    live_sessions: int


class PasswordIn(BaseModel):
    password: Password


class MembershipIn(BaseModel):
    telemedpoint_id: Identifier | None = Field(description="None: the nurse leaves her point")


class CohortOut(BaseModel):
    username: str
    role: str
    patient_ids: list[str]


class TelemedpointOut(BaseModel):
    id: str
    name: str


class PatientAccountIn(BaseModel):
    username: Username
    password: Password


class EnrolmentIn(BaseModel):
    """A new patient with everything needed to start monitoring, saved together or not at all."""

    patient: PatientIn
    gateway_id: Identifier | None = Field(
        default=None, description="the home gateway (bridge) to enrol for this patient"
    )
    care_team: list[Username] = Field(default_factory=list, max_length=20)
    account: PatientAccountIn | None = None
    devices: list[DeviceIn] = Field(
        default_factory=list, max_length=10,
        description="the patient's devices; one pairing with no gateway_id pairs with gateway_id",
    )  # fmt: skip


class EnrolmentOut(BaseModel):
    patient: EnrolledOut
    gateway_id: str | None
    gateway_token: str | None = Field(description="shown once; stored only as a hash")
    care_team: list[str]
    account: str | None
    devices: list[RegisteredDeviceOut] = Field(default_factory=list)


class OwnPasswordIn(BaseModel):
    current_password: Password
    new_password: Password
