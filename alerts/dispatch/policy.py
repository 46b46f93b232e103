"""Dispatch policy: how many to offer, how far, for how long. Built from the server settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.dispatch.geo import StraightLine, TravelTime


@dataclass(frozen=True, slots=True)
class DispatchPolicy:
    """Phased offers: phase k offers ``first_n * (k + 1)`` more responders within
    ``radius_m * widen ** k`` (capped at ``max_radius_m``); a phase lasts ``phase_s`` (its offers
    expire then) or ends at once when all its offers are declined. ``max_accept`` (K) is how
    many may accept: the first goes to the patient (CPR), the next fetches the nearest AED.

    Defaults follow the deployed systems (reference/clinical-workflow.md §3): GoodSAM offers
    the 3-5 nearest within 500-800 m; Heartrunner up to 30 within 1.3 km.
    """

    first_n: int = 3
    radius_m: float = 800.0
    widen: float = 1.6
    max_radius_m: float = 3000.0
    max_phases: int = 4
    phase_s: float = 60.0
    max_accept: int = 2
    position_max_age_s: float = 600.0
    aed_radius_m: float = 1500.0
    travel: TravelTime = field(default_factory=StraightLine)

    def radius_of(self, phase: int) -> float:
        return float(min(self.max_radius_m, self.radius_m * self.widen**phase))

    def count_of(self, phase: int) -> int:
        return self.first_n * (phase + 1)
