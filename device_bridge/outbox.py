"""Durable store-and-forward outbox of a bridge (SQLite, WAL).

Three tables, one file:

* ``raw`` -- bytes exactly as a device sent them, with the receive time, written **before**
  parsing is trusted. A raw row is removed in the same transaction that appends what it parsed
  to, or it moves to ``quarantine`` when it does not parse. A crash in between leaves the raw row,
  and ``raw_pending`` hands it back for parsing on restart: nothing a device sent is lost.
* ``outbox`` -- parsed items waiting for the hub's ack. Each gets the bridge's next sequence
  number when appended; sequence numbers are never reused (AUTOINCREMENT), and ``advance_to``
  lifts them above what the hub already has when an outbox was lost or replaced.
* ``quarantine`` -- malformed payloads with their raw bytes and the parser's reason, kept for
  the operator (``telemed bridge run`` shows the count), never silently dropped.

Bound: at most ``max_items`` pending items. When full, the oldest waveform chunks are evicted
first (a vital is worth more than a strip of ECG that the hub may never need); when only vitals
remain, ``append`` raises :class:`OutboxFull` and the caller keeps the raw bytes instead.
``near_full`` turns true at 80 % so that an alarm is raised long before.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

ItemKind = Literal["reading", "chunk"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_kind TEXT NOT NULL CHECK (item_kind IN ('reading', 'chunk')),
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raw (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    characteristic TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS watermarks (
    device TEXT PRIMARY KEY,
    sequence_number INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    characteristic TEXT NOT NULL,
    payload BLOB NOT NULL,
    received_at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""
NEAR_FULL_FRACTION = 0.8


class OutboxError(RuntimeError):
    """The outbox cannot store: the message says why and what to do."""


class OutboxFull(OutboxError):
    """The outbox holds ``max_items`` vitals: nothing can be evicted without losing a vital."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending item: ``payload`` is the Reading/SampleChunk JSON object without ``seq``."""

    seq: int
    item_kind: ItemKind
    payload: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.payload}


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes as received from a device, before parsing."""

    id: int
    device: str
    characteristic: str
    payload: bytes
    received_at: datetime


class Outbox:
    """SQLite outbox of one bridge, used from one event loop."""

    def __init__(self, path: Path | str, *, max_items: int = 5_000_000) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = str(path)
        self.max_items = max_items
        self.evicted_chunks = 0
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        with self._errors("open"):
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives a killed process (only power loss may drop the last commits).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._depth = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        self.changed = asyncio.Event()  # set when items arrive
        self.drained = asyncio.Event()  # set while nothing waits for an ack
        if self._depth == 0:
            self.drained.set()

    # -- raw bytes, first ------------------------------------------------------------------

    def record_raw(
        self, device: str, characteristic: str, payload: bytes, received_at: datetime
    ) -> int:
        """Store a device's bytes durably before anything else; return the raw row id."""
        with self._errors("store raw bytes"), self._transaction():
            cur = self._db.execute(
                "INSERT INTO raw (device, characteristic, payload, received_at) VALUES (?,?,?,?)",
                (device, characteristic, bytes(payload), received_at.isoformat()),
            )
        return int(cur.lastrowid or 0)

    def raw_pending(self, limit: int = 1000) -> list[RawRecord]:
        """Raw rows not yet parsed (left by a crash between capture and parse)."""
        rows = self._db.execute(
            "SELECT id, device, characteristic, payload, received_at FROM raw ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [RawRecord(i, d, c, bytes(p), datetime.fromisoformat(t)) for i, d, c, p, t in rows]

    def resolve_raw(
        self, raw_id: int, items: Sequence[tuple[ItemKind, dict[str, Any]]]
    ) -> list[int]:
        """Atomically append what a raw row parsed to and forget the raw row."""
        with self._errors("store parsed items"), self._transaction():
            seqs, evicted = self._insert(items)
            self._db.execute("DELETE FROM raw WHERE id = ?", (raw_id,))
        self._after_insert(seqs, evicted)
        return seqs

    def quarantine_raw(self, raw_id: int, reason: str) -> None:
        """Move a raw row that does not parse to quarantine, with the parser's reason."""
        with self._errors("quarantine"), self._transaction():
            self._db.execute(
                "INSERT INTO quarantine (device, characteristic, payload, received_at, reason) "
                "SELECT device, characteristic, payload, received_at, ? FROM raw WHERE id = ?",
                (reason, raw_id),
            )
            self._db.execute("DELETE FROM raw WHERE id = ?", (raw_id,))

    def quarantined(self, limit: int = 100) -> list[tuple[str, str, bytes, str, str]]:
        """(device, characteristic, payload, received_at, reason), newest first."""
        rows = self._db.execute(
            "SELECT device, characteristic, payload, received_at, reason FROM quarantine "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(d, c, bytes(p), t, r) for d, c, p, t, r in rows]

    def quarantine_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])

    # -- record-sync watermarks (glucose/BP meters with memory) ----------------------------

    def load(self, device: str) -> int | None:
        """The highest stored-record sequence number already captured from ``device``."""
        row = self._db.execute(
            "SELECT sequence_number FROM watermarks WHERE device = ?", (device,)
        ).fetchone()
        return int(row[0]) if row else None

    def save(self, device: str, sequence_number: int) -> None:
        """Persist a device's watermark (a link.session WatermarkStore)."""
        with self._errors("save watermark"), self._transaction():
            self._db.execute(
                "INSERT INTO watermarks (device, sequence_number) VALUES (?, ?) "
                "ON CONFLICT (device) DO UPDATE SET sequence_number = excluded.sequence_number",
                (device, sequence_number),
            )

    # -- parsed items ----------------------------------------------------------------------

    def append(self, items: Iterable[tuple[ItemKind, dict[str, Any]]]) -> list[int]:
        """Store items durably, in order; return their sequence numbers."""
        with self._errors("append"), self._transaction():
            seqs, evicted = self._insert(list(items))
        self._after_insert(seqs, evicted)
        return seqs

    def pending(self, limit: int, *, newest_first: bool = False) -> list[OutboxItem]:
        """Up to ``limit`` unacked items, oldest first unless ``newest_first``."""
        order = "DESC" if newest_first else "ASC"
        rows = self._db.execute(
            f"SELECT seq, item_kind, payload FROM outbox ORDER BY seq {order} LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxItem(seq, kind, json.loads(payload)) for seq, kind, payload in rows]

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget items the hub has acked."""
        with self._errors("delete acked items"), self._transaction():
            cur = self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])
        self._depth -= cur.rowcount
        if self._depth == 0:
            self.drained.set()

    def depth(self) -> int:
        """Items waiting for the hub's ack."""
        return self._depth

    @property
    def near_full(self) -> bool:
        return self._depth >= NEAR_FULL_FRACTION * self.max_items

    def next_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def advance_to(self, last_seq: int) -> None:
        """Make the next sequence number greater than ``last_seq`` (the hub's high-water mark)."""
        if self.next_seq() > last_seq:
            return
        with self._errors("advance sequence"), self._transaction():
            self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
            self._db.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (last_seq,)
            )

    def close(self) -> None:
        self._db.close()

    # -- internals -------------------------------------------------------------------------

    def _insert(self, items: Sequence[tuple[ItemKind, dict[str, Any]]]) -> tuple[list[int], int]:
        """Insert inside the caller's transaction; return (seqs, chunks evicted). Counters are
        updated by the caller after the commit, so a rollback leaves them right."""
        room = self.max_items - self._depth
        evicted = 0
        if len(items) > room:
            evicted = self._evict_chunks(len(items) - room)
            room += evicted
        if len(items) > room:
            raise OutboxFull(
                f"outbox {self.path} holds {self._depth} items (limit {self.max_items}): "
                "the hub has not acked for a long time; check the network, or raise the limit"
            )
        seqs = []
        for item_kind, payload in items:
            cur = self._db.execute(
                "INSERT INTO outbox (item_kind, payload) VALUES (?, ?)",
                (item_kind, json.dumps(payload, separators=(",", ":"))),
            )
            seqs.append(int(cur.lastrowid or 0))
        return seqs, evicted

    def _evict_chunks(self, needed: int) -> int:
        cur = self._db.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE item_kind = 'chunk' "
            "ORDER BY seq LIMIT ?)",
            (needed,),
        )
        return int(cur.rowcount)

    def _after_insert(self, seqs: list[int], evicted: int) -> None:
        self._depth += len(seqs) - evicted
        self.evicted_chunks += evicted
        if seqs:
            self.changed.set()
            self.drained.clear()

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    def _errors(self, doing: str) -> _Errors:
        return _Errors(self.path, doing)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite already rolled back on SQLITE_FULL
            self._db.execute("ROLLBACK")


class _Errors:
    """Turn SQLite's storage failures into an OutboxError that says what to do."""

    def __init__(self, path: str, doing: str) -> None:
        self.path, self.doing = path, doing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
            text = str(exc)
            hint = "free disk space" if "full" in text else "check the file and its folder"
            raise OutboxError(f"outbox {self.path}: cannot {self.doing}: {text} ({hint})") from exc
