"""The decoders' output: one :class:`Measurement` per value a characteristic carries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from types import MappingProxyType

from device_bridge.gatt.sfloat import Number
from telemed_core.kinds import UNITS, WAVEFORM_KINDS, Kind
from telemed_core.values import FLAGS

#: Values allowed in ``Measurement.extra``: JSON scalars and tuples of them, so a bridge can
#: store the decoded form next to the raw bytes without a custom encoder.
ExtraValue = str | int | float | bool | None | tuple[str, ...] | tuple[int, ...]

INVALID = "invalid"


def _no_extra() -> Mapping[str, ExtraValue]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Measurement:
    """One decoded value, already in the kernel's unit for its kind.

    * ``value`` is in ``unit`` (= ``telemed_core.kinds.UNITS[kind]``); None when the device sent
      an IEEE 11073 special value (NaN, NRes, +-INF, reserved) or an "unsuccessful" marker, in
      which case ``flags`` contains "invalid" and ``extra["special"]`` says which.
    * ``device_time`` is the device's own clock reading for this value, UTC-aware; None when the
      device gave none or said its clock is unknown or not set.
    * ``flags`` only uses names from ``telemed_core.values.FLAGS``; "invalid" means a status bit
      or special value makes the value unusable as a vital (stored, never charted).
    * ``extra`` holds the rest of what the device said (status bit names, sequence numbers,
      sensor contact, ...), read-only. Its keys are documented by each decoder.

    The constructor checks the same invariants as ``telemed_core.values.Reading`` so that turning
    a Measurement into a Reading cannot fail.
    """

    kind: Kind
    unit: str
    value: float | None
    device_time: datetime | None = None
    flags: tuple[str, ...] = ()
    extra: Mapping[str, ExtraValue] = field(default_factory=_no_extra, hash=False)

    def __post_init__(self) -> None:
        if self.kind in WAVEFORM_KINDS or self.unit != UNITS[self.kind]:
            raise ValueError(f"{self.kind} cannot be a Measurement in {self.unit!r}")
        if self.value is None and INVALID not in self.flags:
            raise ValueError("a Measurement without a value must be flagged 'invalid'")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"value must be finite, got {self.value}")
        if self.device_time is not None and self.device_time.utcoffset() is None:
            raise ValueError("device_time must be timezone-aware")
        unknown = set(self.flags) - FLAGS
        if unknown:
            raise ValueError(f"unknown flags {sorted(unknown)}")
        # a read-only copy, so one decoder's dict shared by several measurements stays put
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def of(
        cls,
        kind: Kind,
        value: float | None,
        *,
        device_time: datetime | None = None,
        flags: Iterable[str] = (),
        extra: Mapping[str, ExtraValue] | None = None,
    ) -> Measurement:
        """Build a Measurement in the kind's unit; a None value gets the "invalid" flag."""
        all_flags = list(flags) + ([INVALID] if value is None else [])
        return cls(
            kind=kind,
            unit=UNITS[kind],
            value=value,
            device_time=device_time,
            flags=tuple(dict.fromkeys(all_flags)),  # de-duplicated, first occurrence order
            extra=dict(extra or {}),
        )


def from_number(
    kind: Kind,
    number: Number,
    scale: Fraction = Fraction(1),
    *,
    device_time: datetime | None = None,
    flags: Iterable[str] = (),
    extra: Mapping[str, ExtraValue] | None = None,
) -> Measurement:
    """A Measurement of ``number * scale``; a special value becomes value None + "invalid".

    ``scale`` converts the wire unit to the kind's unit exactly (e.g. kPa to mm[Hg]).
    """
    details = dict(extra or {})
    if number.special is not None:
        details["special"] = number.special.value
    value = number_value(number, scale)
    return Measurement.of(kind, value, device_time=device_time, flags=flags, extra=details)


def number_value(number: Number, scale: Fraction = Fraction(1)) -> float | None:
    """``number * scale`` as a float for ``extra``; None for a special value."""
    exact = number.exact
    return None if exact is None else float(exact * scale)
