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
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from telemed_core.kinds import PULSE_CHANNELS, UNITS, WAVEFORM_KINDS, Kind

#: Flags a reading may carry. ``invalid`` readings are stored (nothing is lost) but never
#: charted as a vital; ``clock_unsure`` means measured_at could not be anchored reliably.
#: ``strip`` marks an ECG chunk that is a whole spot recording (a kiosk's or a handheld ECG's
#: 9-120 s strip), classified as a whole rather than monitored as a stream. ``manual`` marks a
#: value a nurse typed in at a kiosk because the device failed (not read from a device).
FLAGS = frozenset(
    {"invalid", "clock_unsure", "simulated", "early", "irregular_pulse", "motion", "derived"}
    | {"strip", "manual"}
)
#: Duration limits of an ECG strip (s).
STRIP_S = (9.0, 120.0)


#: Channel name of a waveform chunk that names none (WFDB signal names).
DEFAULT_CHANNEL: dict[str, str] = {Kind.ECG: "I", **PULSE_CHANNELS}


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
    """Consecutive waveform samples of one channel: sample i was taken at start + i / fs_hz and
    its value is ``factor * samples[i]`` in ``unit`` (as FHIR SampledData: integers on the wire,
    the resolution in ``factor``; ECG is whole microvolts, factor 1).

    ``lead`` names the channel: the ECG lead (``I``, ``II``, ``V`` ...), or, for a pulse
    waveform, the kind's WFDB signal name (``PLETH``, ``ABP``), which may be left out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1)
    patient_id: Identifier
    device_id: Identifier
    kind: Kind = Kind.ECG
    lead: str = Field(default="I", min_length=1, max_length=16)
    unit: str = "uV"
    factor: float = Field(default=1.0, gt=0, le=1e6, allow_inf_nan=False)
    fs_hz: float = Field(gt=0, le=10_000)
    start: UtcDatetime
    samples: list[Annotated[int, Field(ge=-(2**31), lt=2**31)]] = Field(
        min_length=1, max_length=100_000
    )
    flags: Annotated[list[str], AfterValidator(_check_flags)] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _default_lead(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lead" not in data:
            kind = data.get("kind", Kind.ECG)
            data = {**data, "lead": DEFAULT_CHANNEL.get(kind, "I")}
        return data

    @model_validator(mode="after")
    def _unit_matches_kind(self) -> SampleChunk:
        if self.kind not in WAVEFORM_KINDS:
            raise ValueError(f"{self.kind} is not a waveform kind")
        if self.unit != UNITS[self.kind]:
            raise ValueError(f"unit of {self.kind} must be {UNITS[self.kind]!r}, got {self.unit!r}")
        if self.kind != Kind.ECG and self.lead != DEFAULT_CHANNEL[self.kind]:
            raise ValueError(f"the channel of {self.kind} chunks is {DEFAULT_CHANNEL[self.kind]!r}")
        if self.kind == Kind.ECG and self.lead in PULSE_CHANNELS.values():
            raise ValueError(f"{self.lead!r} is not an ECG lead")
        if "strip" in self.flags:
            seconds = len(self.samples) / self.fs_hz
            if self.kind != Kind.ECG:
                raise ValueError("only an ECG recording can be a strip")
            if not STRIP_S[0] <= seconds <= STRIP_S[1]:
                raise ValueError(
                    f"an ECG strip lasts {STRIP_S[0]:g}-{STRIP_S[1]:g} s, this one {seconds:.1f} s"
                )
        return self


def utc_now() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)
