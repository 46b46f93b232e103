"""Durable store-and-forward outbox of a bridge (SQLite, WAL).

Three tables, one file:

* ``raw`` -- bytes as a device sent them, with the receive time, not yet parsed. The pipeline
  parses a notification in memory and commits once: its items, or its bytes in ``quarantine``
  (one commit per notification instead of two; see ``pipeline.py``). ``record_raw`` stays for
  callers that must store bytes before they can parse them, and an outbox written by an older
  bridge may hold raw rows: ``raw_pending`` hands them back for parsing on start.
* ``outbox`` -- parsed items waiting for the hub's ack. Each gets the outbox's next id when
  appended (AUTOINCREMENT: never reused). Its sequence number on the wire is ``seq_base + id``,
  where ``seq_base`` is a block of numbers the hub reserved for this outbox file at its first
  connection (``numbering``). Items captured before that wait, stored, for the block: a new or
  replaced outbox can therefore never reuse a number the hub holds from an earlier outbox.
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

#: What an outbox item is; ``patient`` and ``consult`` are a kiosk's registrations and
#: teleconsultation requests (``telemed_core.kiosk_items``).
ItemKind = Literal["reading", "chunk", "patient", "consult"]

_NUMBERING = """
CREATE TABLE IF NOT EXISTS numbering (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    seq_base INTEGER NOT NULL
)"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_kind TEXT NOT NULL CHECK (item_kind IN ('reading', 'chunk', 'patient', 'consult')),
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


class SeqBaseUnknown(OutboxError):
    """The hub has not yet reserved this outbox's sequence numbers: nothing can be sent."""


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
            if self._numbered_before_blocks():
                # An outbox of an older bridge: its ids already are its wire numbers.
                with self._transaction():
                    self._db.execute(_NUMBERING)
                    self._write_seq_base(0)
            self._db.executescript(_SCHEMA + _NUMBERING + ";")
        self._seq_base = self._read_seq_base()
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

    def quarantine(self, raw: RawRecord, reason: str) -> None:
        """Keep a notification that does not parse: its bytes, receive time and the reason."""
        with self._errors("quarantine"), self._transaction():
            self._db.execute(
                "INSERT INTO quarantine (device, characteristic, payload, received_at, reason) "
                "VALUES (?, ?, ?, ?, ?)",
                (raw.device, raw.characteristic, raw.payload, raw.received_at.isoformat(), reason),
            )

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
        """Persist a device's watermark (a link.watermarks WatermarkStore)."""
        with self._errors("save watermark"), self._transaction():
            self._db.execute(
                "INSERT INTO watermarks (device, sequence_number) VALUES (?, ?) "
                "ON CONFLICT (device) DO UPDATE SET sequence_number = excluded.sequence_number",
                (device, sequence_number),
            )

    # -- parsed items ----------------------------------------------------------------------

    def append(self, items: Iterable[tuple[ItemKind, dict[str, Any]]]) -> list[int]:
        """Store items durably, in order; return their outbox ids (wire seq = seq_base + id)."""
        with self._errors("append"), self._transaction():
            seqs, evicted = self._insert(list(items))
        self._after_insert(seqs, evicted)
        return seqs

    def pending(self, limit: int, *, newest_first: bool = False) -> list[OutboxItem]:
        """Up to ``limit`` unacked items with their wire sequence numbers, oldest first unless
        ``newest_first``. Raise SeqBaseUnknown before the hub has reserved the numbers."""
        base = self._require_seq_base()
        order = "DESC" if newest_first else "ASC"
        rows = self._db.execute(
            f"SELECT seq, item_kind, payload FROM outbox ORDER BY seq {order} LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxItem(base + i, kind, json.loads(payload)) for i, kind, payload in rows]

    def delete(self, seqs: Sequence[int]) -> None:
        """Forget items the hub has acked (by their wire sequence numbers)."""
        base = self._require_seq_base()
        with self._errors("delete acked items"), self._transaction():
            cur = self._db.executemany(
                "DELETE FROM outbox WHERE seq = ?", [(s - base,) for s in seqs]
            )
        self._depth -= cur.rowcount
        if self._depth == 0:
            self.drained.set()

    def depth(self) -> int:
        """Items waiting for the hub's ack."""
        return self._depth

    @property
    def near_full(self) -> bool:
        return self._depth >= NEAR_FULL_FRACTION * self.max_items

    @property
    def seq_base(self) -> int | None:
        """The block the hub reserved for this outbox (None until its first welcome)."""
        return self._seq_base

    def set_seq_base(self, seq_base: int) -> None:
        """Adopt the hub's reservation, once: the numbering of an outbox never changes."""
        if self._seq_base is not None:
            if seq_base != self._seq_base:
                raise OutboxError(
                    f"outbox {self.path} is numbered from {self._seq_base}, not {seq_base}"
                )
            return
        with self._errors("save sequence base"), self._transaction():
            self._write_seq_base(seq_base)
        self._seq_base = seq_base

    def highest_seq(self) -> int:
        """The highest wire sequence number this outbox assigned (0 when none, or not known)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        if row is None or self._seq_base is None:
            return 0
        return self._seq_base + int(row[0])

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

    def _numbered_before_blocks(self) -> bool:
        """An outbox file of an older bridge: it has numbered items but no ``numbering``."""
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master")}
        return "outbox" in tables and "numbering" not in tables

    def _write_seq_base(self, seq_base: int) -> None:
        self._db.execute("INSERT INTO numbering (one, seq_base) VALUES (1, ?)", (seq_base,))

    def _read_seq_base(self) -> int | None:
        row = self._db.execute("SELECT seq_base FROM numbering").fetchone()
        return int(row[0]) if row else None

    def _require_seq_base(self) -> int:
        if self._seq_base is None:
            raise SeqBaseUnknown(
                f"outbox {self.path} has no sequence numbers yet: the hub reserves them at the "
                "first connection"
            )
        return self._seq_base

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
