"""Page size, sort and the keyset cursor of a search result."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Literal

from patient_hub.fhir.search.errors import SearchParamError

DEFAULT_COUNT = 50
MAX_COUNT = 1000


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where an Observation page starts: right after (``forward``) or right before ``key``, the
    keyset ``(sort value as an ISO instant, source, row id)`` of the entry the link was made
    from (the last entry of the page before, or the first of the page after)."""

    forward: bool
    key: tuple[str, int, int]

    def encode(self) -> str:
        raw = json.dumps({"f": int(self.forward), "k": list(self.key)}, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            value, source, pk = raw["k"]
            if not (isinstance(value, str) and isinstance(source, int) and isinstance(pk, int)):
                raise TypeError
            return cls(bool(raw["f"]), (value, source, pk))
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise SearchParamError("_cursor is not one this server issued") from None


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    descending: bool


@dataclass(frozen=True, slots=True)
class Page:
    """Page size and position; ``count`` 0 or ``summary_count`` ask for the total only."""

    count: int = DEFAULT_COUNT
    offset: int = 0
    cursor: Cursor | None = None
    sort: Sort = Sort("date", True)
    summary_count: bool = False
    total: Literal["none", "estimate", "accurate"] | None = None
    by_offset: bool = False  # ``_offset`` was given: links page by offset too

    @property
    def count_only(self) -> bool:
        return self.summary_count or self.count == 0
