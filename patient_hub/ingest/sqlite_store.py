"""The SQL of storing a batch on the embedded default (SQLite): one thread hop per batch.

On SQLite the generic path (``repository.insert_readings`` through SQLAlchemy's async session)
spent most of the hub's ingest CPU outside SQLite: every statement, fetch and commit crosses from
the event loop to aiosqlite's thread and back, and every bound value goes through SQLAlchemy's
type processors (bench/bench_ingest.py --profile). Here one dedicated thread with its own
``sqlite3`` connection does the whole unit of work of a batch (which patients are test patients,
the idempotent insert with ``RETURNING``, the comparison of replays, the commit) in one call,
with values formatted once, exactly as SQLAlchemy stores them (``UtcDateTime`` on SQLite:
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC), so everything else reads these rows unchanged.

PostgreSQL keeps the generic path (asyncpg binds natively; there is no driver thread).
The caller holds the hub's write lock, as for every SQLite write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np

from patient_hub.ingest.repository import Inserted
from telemed_core.values import Reading, SampleChunk

_READING_COLUMNS = (
    "bridge_id", "seq", "patient_id", "device_id", "kind", "value", "unit", "measured_at",
    "device_time", "received_at", "stored_at", "flags",
)  # fmt: skip
_CHUNK_COLUMNS = (
    "bridge_id", "seq", "patient_id", "device_id", "kind", "lead", "unit", "factor", "fs_hz",
    "start", "n_samples", "samples", "stored_at", "flags",
)  # fmt: skip
#: Rows per INSERT: SQLite allows 32,766 bound values per statement (3.32+).
_PAGE_ROWS = 1000
_BUSY_TIMEOUT_S = 30.0


def sqlite_time(at: datetime | None) -> str | None:
    """A UTC-aware datetime as ``UtcDateTime`` stores it on SQLite (SQLAlchemy's format)."""
    if at is None:
        return None
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - SQLAlchemy's exact format
        at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond,
    )  # fmt: skip


def _flags(flags: list[str], test: bool) -> str:
    if test and "simulated" not in flags:
        flags = [*flags, "simulated"]
    return ",".join(flags)


def reading_rows(
    bridge_id: str, readings: Sequence[Reading], stored_at: str, test: set[str]
) -> list[tuple[Any, ...]]:
    return [
        (
            bridge_id, r.seq, r.patient_id, r.device_id, r.kind.value, r.value, r.unit,
            sqlite_time(r.measured_at), sqlite_time(r.device_time), sqlite_time(r.received_at),
            stored_at, _flags(r.flags, r.patient_id in test),
        )
        for r in readings
    ]  # fmt: skip


def chunk_rows(
    bridge_id: str, chunks: Sequence[SampleChunk], stored_at: str, test: set[str]
) -> list[tuple[Any, ...]]:
    return [
        (
            bridge_id, c.seq, c.patient_id, c.device_id, c.kind.value, c.lead, c.unit, c.factor,
            c.fs_hz, sqlite_time(c.start), len(c.samples),
            np.asarray(c.samples, dtype="<i4").tobytes(), stored_at,
            _flags(c.flags, c.patient_id in test),
        )
        for c in chunks
    ]  # fmt: skip


class SqliteIngestStore:
    """Stores batches through one ``sqlite3`` connection on one thread of its own."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite")
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: the transaction is the explicit BEGIN IMMEDIATE below.
            db = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    async def store(
        self,
        bridge_id: str,
        readings: Sequence[Reading],
        chunks: Sequence[SampleChunk],
        now: datetime,
    ) -> tuple[Inserted, Inserted]:
        """Insert the items not stored yet, in one transaction; compare replays with what is
        stored. Committed only when no replay differs (the caller refuses the batch then)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._store, bridge_id, readings, chunks, now)

    def _store(
        self,
        bridge_id: str,
        readings: Sequence[Reading],
        chunks: Sequence[SampleChunk],
        now: datetime,
    ) -> tuple[Inserted, Inserted]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            named = {r.patient_id for r in readings} | {c.patient_id for c in chunks}
            test = _test_patients(db, named)
            stored_at = sqlite_time(now)
            assert stored_at is not None
            got = (
                _insert(db, "readings", _READING_COLUMNS, reading_rows(bridge_id, readings, stored_at, test)),
                _insert(db, "sample_chunks", _CHUNK_COLUMNS, chunk_rows(bridge_id, chunks, stored_at, test)),
            )  # fmt: skip
            if got[0].differing or got[1].differing:
                db.execute("ROLLBACK")
            else:
                db.execute("COMMIT")
            return got
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        def close_db() -> None:
            db = getattr(self._local, "db", None)
            if db is not None:
                db.close()
                self._local.db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close_db)
        self._pool.shutdown(wait=True)


def _test_patients(db: sqlite3.Connection, named: set[str]) -> set[str]:
    if not named:
        return set()
    ids = sorted(named)
    marks = ",".join("?" * len(ids))
    sql = f"SELECT id FROM patients WHERE is_test = 1 AND id IN ({marks})"  # noqa: S608 - marks only
    return {row[0] for row in db.execute(sql, ids)}


def _insert(
    db: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> Inserted:
    """Insert rows whose (bridge_id, seq) is new; compare the others with what is stored."""
    if not rows:
        return Inserted(set(), [])
    new: set[int] = set()
    one = "(" + ",".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({','.join(columns)}) VALUES "  # noqa: S608 - fixed names
    tail = " ON CONFLICT (bridge_id, seq) DO NOTHING RETURNING seq"
    for i in range(0, len(rows), _PAGE_ROWS):
        page = rows[i : i + _PAGE_ROWS]
        flat = [value for row in page for value in row]
        new.update(seq for (seq,) in db.execute(head + ",".join([one] * len(page)) + tail, flat))
    replays = {row[1]: row for row in rows if row[1] not in new}
    if not replays:
        return Inserted(new, [])
    return Inserted(new, _differing(db, table, columns, rows[0][0], replays))


def _differing(
    db: sqlite3.Connection,
    table: str,
    columns: tuple[str, ...],
    bridge_id: str,
    replays: dict[int, tuple[Any, ...]],
) -> list[tuple[int, str]]:
    """Replayed seqs whose stored row differs from the one sent (everything but the storage
    time and the derived sample count), with the first differing column."""
    compared = [
        i for i, c in enumerate(columns) if c not in ("bridge_id", "stored_at", "n_samples")
    ]
    names = ",".join(columns[i] for i in compared)
    seqs = sorted(replays)
    marks = ",".join("?" * len(seqs))
    sql = f"SELECT {names} FROM {table} WHERE bridge_id = ? AND seq IN ({marks})"  # noqa: S608
    differing = []
    for stored in db.execute(sql, [bridge_id, *seqs]):
        sent = replays[stored[compared.index(1)]]
        for value, i in zip(stored, compared, strict=True):
            if value != sent[i]:
                differing.append((stored[compared.index(1)], columns[i]))
                break
    return sorted(differing)
