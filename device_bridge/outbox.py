"""Durable store-and-forward outbox of a bridge (SQLite, WAL).

Every item gets the bridge's next sequence number when it is appended; it stays until the hub
acks it. Sequence numbers are never reused (AUTOINCREMENT), and ``advance_to`` lifts them above
what the hub already has when an outbox was lost or replaced, so a fresh outbox cannot collide
with stored readings.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ItemKind = Literal["reading", "chunk"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    item_kind TEXT NOT NULL CHECK (item_kind IN ('reading', 'chunk')),
    payload TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A pending item: ``payload`` is the Reading/SampleChunk JSON object without ``seq``."""

    seq: int
    item_kind: ItemKind
    payload: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, **self.payload}


class Outbox:
    """SQLite outbox; one per bridge. Thread-compatible, used from one event loop."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a killed process (only power loss may drop the last commits).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.changed = asyncio.Event()

    def append(self, items: Iterable[tuple[ItemKind, dict[str, Any]]]) -> list[int]:
        """Store items durably, in order; return their sequence numbers."""
        seqs: list[int] = []
        with self._transaction():
            for item_kind, payload in items:
                cur = self._db.execute(
                    "INSERT INTO outbox (item_kind, payload) VALUES (?, ?)",
                    (item_kind, json.dumps(payload, separators=(",", ":"))),
                )
                seqs.append(int(cur.lastrowid or 0))
        if seqs:
            self.changed.set()
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
        with self._transaction():
            self._db.executemany("DELETE FROM outbox WHERE seq = ?", [(s,) for s in seqs])

    def depth(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def next_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def advance_to(self, last_seq: int) -> None:
        """Make the next sequence number greater than ``last_seq`` (the hub's high-water mark)."""
        if self.next_seq() > last_seq:
            return
        with self._transaction():
            self._db.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
            self._db.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (last_seq,)
            )

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Tx:
        return _Tx(self._db)


class _Tx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
