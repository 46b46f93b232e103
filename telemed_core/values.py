"""Value types shared by edge and server: a single reading and a chunk of waveform samples.

Times are UTC-aware. A bridge keeps three clocks apart:

* ``measured_at`` -- when the measurement was taken, on the gateway's (corrected) clock; this is
  what the hub charts and what FHIR ``effectiveDateTime`` carries;
* ``device_time`` -- the device's own clock reading, or None when the device gave none or said
  it is unknown (device clocks drift and reset);
* ``received_at`` -- when the gateway received the bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from telemed_core.kinds import UNITS, WAVEFORM_KINDS, Kind

#: Flags a reading may carry. ``invalid`` readings are stored (nothing is lost) but never
#: charted as a vital; ``clock_unsure`` means measured_at could not be anchored reliably.
FLAGS = frozenset(
    {"invalid", "clock_unsure", "simulated", "early", "irregular_pulse", "motion", "derived"}
)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_require_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]


def _check_flags(flags: list[str]) -> list[str]:
    unknown = set(flags) - FLAGS
    if unknown:
        raise ValueError(f"unknown flags: {sorted(unknown)}")
    return flags


class Reading(BaseModel):
    """One scalar measurement, numbered by its bridge.

    ``value`` is in the kind's UCUM ``unit`` (see telemed_core.kinds.UNITS); None means the
    device reported a special value (NaN, NRes, infinity) and the reading is flagged invalid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="per-bridge, strictly increasing sequence number")
    patient_id: Identifier
    device_id: Identifier
    kind: Kind
    value: float | None = Field(allow_inf_nan=False)
    unit: str
    measured_at: UtcDatetime
    device_time: UtcDatetime | None = None
    received_at: UtcDatetime | None = None
    flags: Annotated[list[str], AfterValidator(_check_flags)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unit_matches_kind(self) -> Reading:
        if self.kind in WAVEFORM_KINDS:
            raise ValueError(f"{self.kind} is a waveform: send it as a SampleChunk")
        if self.unit != UNITS[self.kind]:
            raise ValueError(f"unit of {self.kind} must be {UNITS[self.kind]!r}, got {self.unit!r}")
        if self.value is None and "invalid" not in self.flags:
            raise ValueError("a reading without a value must carry the 'invalid' flag")
        return self


class SampleChunk(BaseModel):
    """Consecutive waveform samples of one lead: sample i was taken at start + i / fs_hz."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    patient_id: Identifier
    device_id: Identifier
    kind: Kind = Kind.ECG
    lead: str = Field(default="I", min_length=1, max_length=16)
    unit: str = "uV"
    fs_hz: float = Field(gt=0, le=10_000)
    start: UtcDatetime
    samples: list[int] = Field(min_length=1, max_length=100_000)
    flags: Annotated[list[str], AfterValidator(_check_flags)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unit_matches_kind(self) -> SampleChunk:
        if self.kind not in WAVEFORM_KINDS:
            raise ValueError(f"{self.kind} is not a waveform kind")
        if self.unit != UNITS[self.kind]:
            raise ValueError(f"unit of {self.kind} must be {UNITS[self.kind]!r}, got {self.unit!r}")
        return self


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)
