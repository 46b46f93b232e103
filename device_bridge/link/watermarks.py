"""Where a session keeps the highest glucose record sequence number already handed up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class WatermarkStore(Protocol):
    """Keeps, per device, the highest record sequence number already handed upward."""

    def load(self, device: str) -> int | None:
        """The device's watermark, or None before its first record."""
        ...

    def save(self, device: str, sequence_number: int) -> None:
        """Persist a new watermark (called after the record was stored)."""
        ...


@dataclass
class MemoryWatermarks:
    """A :class:`WatermarkStore` in a dict (tests, and bridges that persist it elsewhere)."""

    values: dict[str, int] = field(default_factory=dict)

    def load(self, device: str) -> int | None:
        return self.values.get(device)

    def save(self, device: str, sequence_number: int) -> None:
        self.values[device] = sequence_number
