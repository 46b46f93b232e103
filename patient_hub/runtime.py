"""What the server's request handlers and workers share: sessions, bus, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patient_hub.bus.base import Bus
from telemed_core.values import utc_now


@dataclass
class HubContext:
    """Built once in create_app/bootstrap and handed down; nothing else opens connections."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    clock: Callable[[], datetime] = field(default=utc_now)
