"""What the server's request handlers and workers share: sessions, bus, clock."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patient_hub.bus.base import Bus
from patient_hub.db import make_sessionmaker
from patient_hub.ingest.sqlite_store import SqliteIngestStore
from patient_hub.sqlite_wal import WalCheckpointer
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
    #: SQLite file databases store bridge batches through a connection and thread of their own
    #: (``ingest/sqlite_store.py``); None: through the sessions, as on PostgreSQL.
    ingest_store: SqliteIngestStore | None = None
    #: SQLite file databases checkpoint their log on a thread of their own (``sqlite_wal.py``).
    checkpointer: WalCheckpointer | None = None

    @classmethod
    def build(cls, engine: AsyncEngine, bus: Bus) -> HubContext:
        if engine.dialect.name != "sqlite":
            return cls(engine=engine, sessions=make_sessionmaker(engine), bus=bus)
        path = engine.url.database
        lock = WriterLock()
        store = SqliteIngestStore(path, lock) if path and path != ":memory:" else None
        return cls(
            engine=engine,
            sessions=make_sessionmaker(engine),
            bus=bus,
            write_lock=lock,
            ingest_store=store,
        )

    def start_checkpointer(self) -> None:
        """A server process on a SQLite file checkpoints its log off the commit path
        (``sqlite_wal.py``); ``close`` stops it. Elsewhere, nothing to do."""
        path = self.engine.url.database
        if self.ingest_store is not None and path and self.checkpointer is None:
            self.checkpointer = WalCheckpointer(path).start()

    async def close(self) -> None:
        """Close what this context opened besides the engine (the caller disposes that)."""
        if self.ingest_store is not None:
            await self.ingest_store.close()
        if self.checkpointer is not None:
            self.checkpointer.stop()
