"""SQLite's write-ahead log on the embedded default: one set of PRAGMAs for every connection,
and checkpoints moved off the commit path onto a thread of their own.

**Why.** SQLite checkpoints automatically inside the COMMIT that finds the log above
``wal_autocheckpoint`` pages (1,000 by default, 4 MB). At 5,000 patients sending a reading a
second, each group commit dirties a leaf page per patient in each patient-keyed index, so nearly
every commit crossed the limit and then copied the whole log into the database file and synced
it, while holding the hub's one writer: the alert that pages someone, a delivery receipt and the
next ingest batch all waited behind that copy (issue 13's latency; docs/architecture.md,
"Checkpoints off the commit path").

**How.** Connections keep an automatic checkpoint only as a safety net (``AUTOCHECKPOINT_PAGES``,
so a process without the checkpointer, such as a CLI command, still bounds the log), and the
hub runs ``WalCheckpointer``: a daemon thread with its own connection that runs a ``PASSIVE``
checkpoint every ``interval_s``. A passive checkpoint takes no writer lock and waits for no
reader: it copies what no reader still needs, concurrently with the writers, and the sqlite3
module releases the GIL while it runs, so it uses the second core rather than the event loop's.
When every frame is copied, the next writer restarts the log from its beginning, and
``journal_size_limit`` truncates a log that once grew large.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)
#: Pages (4 KiB) the log may hold before a COMMIT checkpoints by itself: the safety net only.
AUTOCHECKPOINT_PAGES = 16_384
#: Bytes a reset log is truncated to.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
#: Page cache of the ingest store's one writing connection (KiB): the patient-keyed indexes of
#: a large cohort stay in memory instead of being re-read at each group commit. The pooled
#: connections (up to 40) keep a smaller one each.
INGEST_CACHE_KIB = 65_536
POOL_CACHE_KIB = 8_192


def apply_pragmas(cursor: Any, cache_kib: int = POOL_CACHE_KIB) -> None:
    """The PRAGMAs every file connection of the hub uses (``db.make_engine`` and the ingest
    store's own connection)."""
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
    cursor.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
    cursor.execute(f"PRAGMA cache_size=-{cache_kib}")


class WalCheckpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``path`` every ``interval_s`` on a daemon
    thread until ``stop``; counts the pages it copied and the runs that failed."""

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.pages_copied = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def checkpoint(self, db: sqlite3.Connection) -> tuple[int, int]:
        """One passive checkpoint: (frames in the log, frames copied)."""
        _busy, frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if copied > 0:
            self.pages_copied += copied
        return frames, copied

    def _run(self) -> None:
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            while not self._stop.wait(self.interval_s):
                try:
                    self.checkpoint(db)
                except sqlite3.Error:  # e.g. the file is busy being restored: try again next turn
                    self.failures += 1
                    log.warning("sqlite checkpoint failed; retrying", exc_info=True)
        finally:
            db.close()
