"""A parsed transaction Bundle and its answers: the types both steps share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patient_hub.accounts.models import Role
from patient_hub.fhir.errors import FhirMappingError
from telemed_core.errors import (
    BusinessRuleViolation,
    TelemedError,
)
from telemed_core.values import Reading

MAX_ENTRIES = 1000
#: Readings per Observation are at most 3 (a BP panel's components), so 4 seqs per key.
SEQ_STRIDE = 4
#: Who may post with a user account: admin (any patient), nurse (the patients they see).
#: Gateways post with their bridge credential (HTTP Basic ``bridge_id:token``) for the patients
#: they may send for, exactly as over the bridge websocket.
UPLOAD_ROLES = frozenset({Role.ADMIN, Role.NURSE})
ETAG = 'W/"1"'  # readings are never updated: every stored Observation is version 1


Token = tuple[str | None, str]  # (system, or None for any system; value)


class PreconditionFailed(TelemedError):
    """A conditional create matched several resources (FHIR: 412)."""

    status_code = 412
    code = "conflict"


@dataclass(frozen=True, slots=True)
class Uploader:
    """Who posts: ``source`` is the synthetic bridge id of their readings, ``patients`` those they
    may post for (None: every enrolled patient)."""

    source: str
    patients: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class EntryResponse:
    """``Bundle.entry.response`` of one entry."""

    status: str
    location: str | None = None
    last_modified: datetime | None = None
    note: str | None = None  # informational OperationOutcome text

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.location:
            out |= {"location": self.location, "etag": ETAG}
        if self.last_modified:
            out["lastModified"] = self.last_modified.isoformat().replace("+00:00", "Z")
        if self.note:
            issue = {"severity": "information", "code": "informational", "diagnostics": self.note}
            out["outcome"] = {"resourceType": "OperationOutcome", "issue": [issue]}
        return out


@dataclass(slots=True)
class _PatientItem:
    index: int
    token: Token | None
    literal_id: str | None
    update: bool  # PUT: resolved, never applied


@dataclass(slots=True)
class _DeviceItem:
    index: int
    device_id: str | None  # None: the gateway (PHG), which is the uploader itself


@dataclass(slots=True)
class _ObservationItem:
    index: int
    readings: list[dict[str, Any]]
    key: tuple[str, str] | None  # (system, value) of the conditional create, "" = no system
    any_system: bool  # ifNoneExist named only a value
    subject_entry: int | None  # a Patient entry of the Bundle ...
    subject_id: str | None  # ... or our patient id
    device_id: str


@dataclass(slots=True)
class _SkippedItem:
    index: int
    why: str


@dataclass
class Plan:
    """A validated Bundle: what each entry is, in entry order."""

    type: str
    patients: list[_PatientItem] = field(default_factory=list)
    devices: list[_DeviceItem] = field(default_factory=list)
    observations: list[_ObservationItem] = field(default_factory=list)
    skipped: list[_SkippedItem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Applied:
    """What :func:`apply` did: one response per entry, and the readings newly stored."""

    responses: list[EntryResponse]
    stored: list[Reading]


def _at(index: int, exc: TelemedError | FhirMappingError) -> TelemedError:
    """The same error, naming the entry; a mapping error is a business-rule violation (422)."""
    message = exc.message if isinstance(exc, TelemedError) else str(exc)
    cls = type(exc) if isinstance(exc, TelemedError) else BusinessRuleViolation
    return cls(f"Bundle.entry[{index}]: {message}")
