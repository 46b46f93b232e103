"""SQLite's log is checkpointed off the commit path (patient_hub/sqlite_wal.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from patient_hub.sqlite_wal import AUTOCHECKPOINT_PAGES, WalCheckpointer, apply_pragmas
from tests.conftest import start_hub


def _db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    apply_pragmas(db)
    return db


def _fill(db: sqlite3.Connection, rows: int) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v BLOB)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO t VALUES (?, ?)", ((f"k{i}", b"x" * 500) for i in range(rows)))
    db.execute("COMMIT")


def test_a_commit_no_longer_checkpoints_a_log_above_sqlites_default(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = _db(path)
    _fill(db, 10_000)  # about 1,500 pages: SQLite's default (1,000) checkpoints in the COMMIT
    log_pages = path.with_name("a.db-wal").stat().st_size // 4096
    assert 1_000 < log_pages < AUTOCHECKPOINT_PAGES
    assert path.stat().st_size < 64 * 1024  # nothing was copied into the database file yet
    assert db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == AUTOCHECKPOINT_PAGES


def test_the_checkpointer_copies_the_log_while_a_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    db = _db(path)
    _fill(db, 5_000)
    checkpointer = WalCheckpointer(str(path))
    reader = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    frames, copied = checkpointer.checkpoint(reader)
    assert frames > 0 and copied == frames
    # A passive checkpoint takes no writer lock: a writer holding one is not waited for.
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO t VALUES ('held', x'00')")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (checkpointer.checkpoint(reader), done.set()))
    thread.start()
    assert done.wait(5), "the checkpoint waited for the writer"
    db.execute("COMMIT")
    thread.join()


def test_the_thread_runs_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    _fill(_db(path), 2_000)
    checkpointer = WalCheckpointer(str(path), interval_s=0.01).start()
    try:
        for _ in range(500):
            if checkpointer.pages_copied:
                break
            threading.Event().wait(0.01)
        assert checkpointer.pages_copied > 0 and checkpointer.failures == 0
    finally:
        checkpointer.stop()
    assert not checkpointer._thread.is_alive()


async def test_a_hub_on_sqlite_runs_one_and_stops_it_on_shutdown(tmp_path: Path) -> None:
    running = await start_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    hub = running._server.config.app.state.hub  # type: ignore[attr-defined]
    checkpointer = hub.checkpointer
    assert checkpointer is not None and checkpointer._thread.is_alive()
    await running.stop()
    assert not checkpointer._thread.is_alive()
