"""What the FHIR queries return: hits, pages of hits, loaded resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Select,
)

from patient_hub.fhir.common import JsonDict
from patient_hub.fhir.search.ids import ObservationId
from patient_hub.findings.models import FindingRow
from patient_hub.ingest.models import ReadingRow, SampleChunkRow

SYS, DIA, MEAN = "bp_systolic", "bp_diastolic", "bp_mean"
BP = (SYS, DIA, MEAN)
R, C, F = ReadingRow, SampleChunkRow, FindingRow
Patients = frozenset[str] | None  # None: every patient
AnySelect = Select[*tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Hit:
    """One Observation of a result: where it is stored and its sort value."""

    source: int
    pk: int
    at: datetime
    panel: bool = False

    @property
    def id(self) -> ObservationId:
        return ObservationId(self.source, self.pk, self.panel)


@dataclass(frozen=True, slots=True)
class HitPage:
    hits: list[Hit]
    more: bool  # another page follows in the direction of travel


@dataclass(frozen=True, slots=True)
class Loaded:
    """A resource and the patient it belongs to (for access checks)."""

    resource: JsonDict
    patient_id: str


def _aware(at: Any) -> datetime:
    """Sort values read through a UNION lose the column type on SQLite: parse them back."""
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # stored as UTC
