"""What the server's request handlers and workers share: sessions, bus, clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patient_hub.bus.base import Bus
from patient_hub.db import make_sessionmaker
from patient_hub.writer_lock import WriterLock
from telemed_core.values import utc_now


@dataclass
class HubContext:
    """Built once in create_app/bootstrap and handed down; nothing else opens connections."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    clock: Callable[[], datetime] = field(default=utc_now)
    #: SQLite has one writer: queueing writers on a FIFO lock (``writer_lock.py``) is fair,
    #: where SQLite's own busy-wait lets some bridges starve for seconds. PostgreSQL needs none.
    write_lock: contextlib.AbstractAsyncContextManager[object] = field(
        default_factory=contextlib.nullcontext
    )

    @classmethod
    def build(cls, engine: AsyncEngine, bus: Bus) -> HubContext:
        sqlite = engine.dialect.name == "sqlite"
        lock = WriterLock() if sqlite else contextlib.nullcontext()
        return cls(engine=engine, sessions=make_sessionmaker(engine), bus=bus, write_lock=lock)
