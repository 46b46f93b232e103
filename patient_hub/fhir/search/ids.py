"""Logical Observation ids: the source (reading, chunk, finding) and primary key behind them."""

from __future__ import annotations

from dataclasses import dataclass

#: Sources of Observations, in the order they sort after the date (the keyset's second part).
READING, CHUNK, FINDING = 0, 1, 2
#: Logical id prefixes: a reading, a BP panel (id of its systolic row), an ECG chunk, a finding.
ID_PREFIXES = {"r": READING, "bp": READING, "ecg": CHUNK, "f": FINDING}


@dataclass(frozen=True, slots=True)
class ObservationId:
    """A logical Observation id split into its source, primary key and whether it is a panel."""

    source: int
    pk: int
    panel: bool = False

    def __str__(self) -> str:
        prefix = {READING: "bp" if self.panel else "r", CHUNK: "ecg", FINDING: "f"}[self.source]
        return f"{prefix}-{self.pk}"


def parse_observation_id(text: str) -> ObservationId | None:
    """``r-12`` (reading), ``bp-12`` (panel of systolic row 12), ``ecg-3``, ``f-9``; else None."""
    prefix, _, pk = text.partition("-")
    if prefix not in ID_PREFIXES or not pk.isdigit() or len(pk) > 18:
        return None
    return ObservationId(ID_PREFIXES[prefix], int(pk), prefix == "bp")
