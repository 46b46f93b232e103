"""The SQL of storing a batch on the embedded default (SQLite): one thread hop per group commit.

On SQLite the generic path (``repository.insert_readings`` through SQLAlchemy's async session)
spent most of the hub's ingest CPU outside SQLite: every statement, fetch and commit crosses from
the event loop to aiosqlite's thread and back, and every bound value goes through SQLAlchemy's
type processors (bench/bench_ingest.py --profile). Here one dedicated thread with its own
``sqlite3`` connection does the whole unit of work (which patients are test patients, the
idempotent insert with ``RETURNING``, the comparison of replays, a kiosk's last contact, the
commit) in one call, with values formatted once, exactly as SQLAlchemy stores them
(``UtcDateTime`` on SQLite: ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC), so everything else reads
these rows unchanged.

**Group commit.** SQLite has one writer, which the hub's writers share through ``WriterLock``.
A batch that waits for the writer is joined by every batch that arrives meanwhile: one committer
task takes the lock once for all of them and stores them in one transaction, each batch in a
savepoint of its own (a batch whose replay differs is rolled back alone and refused; the others
commit). So the writer is taken once per group, not once per batch: at 5,000 patients on ten
kiosks a batch no longer queues behind nine others for the writer (docs/architecture.md).
Every batch is still acked only after the COMMIT that made it durable.

PostgreSQL keeps the generic path (asyncpg binds natively; there is no driver thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import numpy as np

from patient_hub.ingest.repository import Inserted
from patient_hub.ingest.wire import ReadingsBatch
from patient_hub.sqlite_wal import INGEST_CACHE_KIB, apply_pragmas
from patient_hub.writer_lock import WriterLock
from telemed_core.values import Reading, SampleChunk

_READING_COLUMNS = (
    "bridge_id", "seq", "patient_id", "device_id", "kind", "value", "unit", "measured_at",
    "device_time", "received_at", "stored_at", "flags",
)  # fmt: skip
_CHUNK_COLUMNS = (
    "bridge_id", "seq", "patient_id", "device_id", "kind", "lead", "unit", "factor", "fs_hz",
    "start", "n_samples", "samples", "stored_at", "flags",
)  # fmt: skip
log = logging.getLogger(__name__)
#: Rows per INSERT: SQLite allows 32,766 bound values per statement (3.32+).
_PAGE_ROWS = 1000
_BUSY_TIMEOUT_S = 30.0
#: Items per group commit at most. Each patient's new row dirties a leaf page of each
#: patient-keyed index whatever the group size, so a smaller group costs little more SQLite work
#: (about 30 % at 5,000 patients) and holds the writer about a quarter as long: a page waiting in
#: the writer's urgent lane waits for one short group, not one of ten kiosks' batches (5,000 items
#: held it 330 ms on average, 1,000 items 90 ms, load 10; bench_alerts_latency at 5,000
#: patients, interleaved at load 9: p50 1.8 s against 2.8-4.1 s). docs/architecture.md.
_GROUP_ROWS = 1_000


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


def _reading_rows(
    bridge_id: str, readings: Sequence[Reading] | ReadingsBatch, stored_at: str, test: set[str]
) -> list[tuple[Any, ...]]:
    if isinstance(readings, ReadingsBatch):  # the fast path's batch: its values are ready
        return readings.sqlite_rows(bridge_id, stored_at, test)
    return reading_rows(bridge_id, readings, stored_at, test)


def _patient_ids(readings: Sequence[Reading] | ReadingsBatch) -> set[str]:
    if isinstance(readings, ReadingsBatch):
        return readings.patient_ids
    return {r.patient_id for r in readings}


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


@dataclass
class _Job:
    """One batch waiting for its group commit."""

    bridge_id: str
    readings: Sequence[Reading] | ReadingsBatch
    chunks: Sequence[SampleChunk]
    now: datetime
    touch_bridge: bool
    done: asyncio.Future[tuple[Inserted, Inserted]] = field(repr=False)
    #: The rows to insert, formatted before the writer is taken (``_prepare``).
    rows: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]] | None = None
    stored_at: str = ""

    def prepare(self) -> None:
        """Format the rows (the CPU part of a store): outside the writer, so the writer is
        held only for SQLite's own work. Test patients' rows are marked in the transaction."""
        if self.rows is None:
            self.stored_at = sqlite_time(self.now) or ""
            self.rows = (
                _reading_rows(self.bridge_id, self.readings, self.stored_at, set()),
                chunk_rows(self.bridge_id, self.chunks, self.stored_at, set()),
            )

    def size(self) -> int:
        return len(self.readings) + len(self.chunks)


class SqliteIngestStore:
    """Stores batches through one ``sqlite3`` connection on one thread of its own, grouping the
    batches that wait for the writer into one transaction (see the module's docstring)."""

    def __init__(self, path: str, write_lock: WriterLock | None = None) -> None:
        self._path = path
        self._lock = write_lock or WriterLock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-sqlite")
        self._local = threading.local()
        self._waiting: list[_Job] = []
        self._arrived: asyncio.Event | None = None
        self._committer: asyncio.Task[None] | None = None

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Autocommit mode: the transaction is the explicit BEGIN IMMEDIATE below.
            db = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            apply_pragmas(db, INGEST_CACHE_KIB)
            self._local.db = db
        return db

    async def store(
        self,
        bridge_id: str,
        readings: Sequence[Reading] | ReadingsBatch,
        chunks: Sequence[SampleChunk],
        now: datetime,
        *,
        touch_bridge: bool = False,
    ) -> tuple[Inserted, Inserted]:
        """Insert the items not stored yet; compare replays with what is stored. Returns once
        the batch is committed, or rolled back alone when a replay differs (the caller refuses
        the batch then). ``touch_bridge``: record the bridge's last contact in the same
        transaction (a kiosk's, for "kiosk offline")."""
        loop = asyncio.get_running_loop()
        job = _Job(bridge_id, readings, chunks, now, touch_bridge, loop.create_future())
        self._waiting.append(job)
        if self._arrived is None:
            self._arrived = asyncio.Event()
        self._arrived.set()
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups(), name="ingest-committer")
        return await asyncio.shield(job.done)  # a cancelled caller leaves its group intact

    async def _commit_groups(self) -> None:
        """Take the writer once for every batch waiting, store them, resolve each."""
        assert self._arrived is not None
        while True:
            await self._arrived.wait()
            try:
                await self._commit_group()
            except Exception:  # its batches got the error; the committer goes on
                log.exception("ingest: a group commit failed; its batches are not acked")

    async def _commit_group(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        self._arrived.clear()
        if not self._waiting:  # taken by the previous group
            return
        await loop.run_in_executor(self._pool, _prepare, list(self._waiting))
        async with self._lock:
            # What arrived while we waited for the writer joins this group, up to a size that
            # keeps the writer's hold short (a page waiting in its urgent lane goes next).
            jobs = _take(self._waiting, _GROUP_ROWS)
            if self._waiting:
                self._arrived.set()
            try:
                results = await loop.run_in_executor(self._pool, self._store_group, jobs)
            except BaseException as exc:  # no COMMIT: nothing of the group is acked
                _fail(jobs, exc)
                raise
        for job, result in zip(jobs, results, strict=True):
            if job.done.done():
                continue
            if isinstance(result, Exception):
                job.done.set_exception(result)
            else:
                job.done.set_result(result)

    def _store_group(self, jobs: list[_Job]) -> list[tuple[Inserted, Inserted] | Exception]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            results = [self._store_one(db, job) for job in jobs]
            db.execute("COMMIT")
            return results
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _store_one(
        self, db: sqlite3.Connection, job: _Job
    ) -> tuple[Inserted, Inserted] | Exception:
        """One batch in a savepoint: kept, or rolled back alone (a differing replay, an error)."""
        db.execute("SAVEPOINT batch")
        try:
            job.prepare()  # arrived after the group's preparation
            assert job.rows is not None
            readings, chunks = job.rows
            named = _patient_ids(job.readings) | {c.patient_id for c in job.chunks}
            test = _test_patients(db, named)
            if test:  # rare (simulated patients): their rows carry the flag
                readings = _reading_rows(job.bridge_id, job.readings, job.stored_at, test)
                chunks = chunk_rows(job.bridge_id, job.chunks, job.stored_at, test)
            got = (
                _insert(db, "readings", _READING_COLUMNS, readings),
                _insert(db, "sample_chunks", _CHUNK_COLUMNS, chunks),
            )
            if got[0].differing or got[1].differing:
                db.execute("ROLLBACK TO batch")
            elif job.touch_bridge:
                db.execute(
                    "UPDATE bridges SET last_seen_at = ? WHERE id = ?",
                    (job.stored_at, job.bridge_id),
                )
            db.execute("RELEASE batch")
            return got
        except Exception as exc:  # this batch is refused alone; the group goes on
            db.execute("ROLLBACK TO batch")
            db.execute("RELEASE batch")
            return exc

    async def close(self) -> None:
        if self._committer is not None:
            self._committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._committer
        _fail(self._waiting, RuntimeError("the ingest store is closed"))
        self._waiting = []

        def close_db() -> None:
            db = getattr(self._local, "db", None)
            if db is not None:
                db.close()
                self._local.db = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close_db)
        self._pool.shutdown(wait=True)


def _prepare(jobs: list[_Job]) -> None:
    for job in jobs:
        job.prepare()


def _take(waiting: list[_Job], rows: int) -> list[_Job]:
    """The first waiting jobs up to ``rows`` items (at least one), removed from ``waiting``."""
    n, size = 0, 0
    while n < len(waiting) and (n == 0 or size + waiting[n].size() <= rows):
        size += waiting[n].size()
        n += 1
    taken = waiting[:n]
    del waiting[:n]
    return taken


def _fail(jobs: list[_Job], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else RuntimeError("ingest store stopped")
    for job in jobs:
        if not job.done.done():
            job.done.set_exception(error)


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
    """Insert rows whose (bridge_id, seq) is new; compare the others with what is stored.

    What is stored already is asked first, with one range read inside the write transaction (no
    other writer can add a row meanwhile): usually nothing, one SQLite step. Not ``RETURNING``,
    which hands every inserted row back one step at a time (the sqlite3 module releases and
    retakes the GIL at each step, against a busy event loop thread) for a set we can compute."""
    if not rows:
        return Inserted(set(), [])
    bridge_id, seqs = rows[0][0], [row[1] for row in rows]
    sql = f"SELECT seq FROM {table} WHERE bridge_id = ? AND seq BETWEEN ? AND ?"  # noqa: S608
    stored = {seq for (seq,) in db.execute(sql, (bridge_id, min(seqs), max(seqs)))}
    fresh = [row for row in rows if row[1] not in stored] if stored else rows
    one = "(" + ",".join("?" * len(columns)) + ")"
    head = f"INSERT INTO {table} ({','.join(columns)}) VALUES "  # noqa: S608 - fixed names
    tail = " ON CONFLICT (bridge_id, seq) DO NOTHING"
    for i in range(0, len(fresh), _PAGE_ROWS):
        page = fresh[i : i + _PAGE_ROWS]
        flat = list(chain.from_iterable(page))
        db.execute(head + ",".join([one] * len(page)) + tail, flat)
    new = {seq for seq in seqs if seq not in stored} if stored else set(seqs)
    replays = {row[1]: row for row in rows if row[1] in stored}
    if not replays:
        return Inserted(new, [])
    return Inserted(new, _differing(db, table, columns, bridge_id, replays))


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
