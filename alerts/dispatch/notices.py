"""What dispatch tells the live pages; published on the bus after the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The bus topic of dispatch notices (each API process fans them out to its sockets).
TOPIC_DISPATCH = "dispatch"


@dataclass(frozen=True, slots=True)
class Notice:
    """A frame for the pages of ``to`` (responder user ids) and, if ``dispatchers``, for every
    dispatcher's console."""

    frame: dict[str, Any]
    to: tuple[str, ...] = ()
    dispatchers: bool = False

    def message(self) -> dict[str, Any]:
        return {"to": list(self.to), "dispatchers": self.dispatchers, "frame": self.frame}


@dataclass
class Notices:
    """Collected by a service call; the boundary publishes them once the transaction commits."""

    items: list[Notice] = field(default_factory=list)

    def add(
        self, frame: dict[str, Any], to: tuple[str, ...] = (), dispatchers: bool = False
    ) -> None:
        self.items.append(Notice(frame, to, dispatchers))

    def event(self, incident_id: str, kind: str, detail: str = "") -> None:
        """A timeline line for the dispatchers' consoles."""
        self.add(
            {"type": "incident", "incident_id": incident_id, "kind": kind, "detail": detail},
            dispatchers=True,
        )
