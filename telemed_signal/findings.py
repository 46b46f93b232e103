"""Findings: what the signal library noticed, with enough context for an alert to explain itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """Suggested priority, after IEC 60601-1-8; the alerts package makes the final call."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition the signal library found in one patient's data.

    ``start``/``end`` are UTC-aware (``end`` None while the condition is ongoing). ``values``
    holds the numbers that triggered it (with units in the keys, e.g. ``{"spo2_pct": 86}``),
    ``window_s`` the span of data looked at, and ``method`` names the published method or rule
    used, so that an alert can say why it fired.
    """

    patient_id: str
    kind: str
    start: datetime
    end: datetime | None
    severity: Severity
    method: str
    values: dict[str, Any] = field(default_factory=dict)
    window_s: float | None = None
    explanation: str = ""
    #: The same explanation as a key of ``telemed_core.explanations.TEMPLATES`` and its
    #: arguments, so screens render it in the reader's language ("" when there is none).
    explanation_key: str = ""
    explanation_args: dict[str, Any] = field(default_factory=dict)
