"""Fault tests of a real bridge process against a real hub: kill -9, full disk."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from device_bridge.outbox import Outbox, OutboxError, OutboxFull
from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow

TARGET_ITEMS = 10_000


def assigned(state: Path) -> int:
    """How many items the bridge's outbox ever numbered."""
    if not (state / "outbox.db").exists():
        return 0
    db = sqlite3.connect(state / "outbox.db")
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0
    except sqlite3.OperationalError:  # killed before the schema existed
        return 0
    finally:
        db.close()


async def hub_seqs(database_url: str) -> list[int]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            readings = list(await s.scalars(select(ReadingRow.seq)))
            chunks = list(await s.scalars(select(SampleChunkRow.seq)))
            return sorted(readings + chunks)
    finally:
        await engine.dispose()


async def bridge(hub: Any, token: str, state: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemed_cli.main", "bridge", "run", "--hub", hub.url,
        "--bridge-id", "bridge-p1", "--token", token, "--state-dir", str(state), "--no-status",
        *extra, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


@pytest.mark.slow
async def test_kill_9_at_random_points_loses_and_doubles_nothing(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    state = tmp_path / "bridge"
    rng = random.Random(2026)
    kills = 0
    while assigned(state) < TARGET_ITEMS:
        proc = await bridge(hub, tokens["bridge-p1"], state, "--simulate", "p1", "--speed", "200")
        await asyncio.sleep(rng.uniform(0.5, 3.0))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        kills += 1
        assert kills < 200, "the bridge is not making progress"
    drain = await bridge(hub, tokens["bridge-p1"], state, "--drain")
    _, err = await asyncio.wait_for(drain.communicate(), 120)
    assert drain.returncode == 0, err.decode()
    total = assigned(state)
    stored = await hub_seqs(hub.settings.database_url)
    box = Outbox(state / "outbox.db")
    base = box.seq_base
    assert kills >= 3 and total >= TARGET_ITEMS and base is not None
    # Every item once: none lost, none doubled. (A kill between the hub's reservation and the
    # outbox saving it costs a block, so the base may be a later block than the first.)
    assert stored == list(range(base + 1, base + total + 1))
    assert (box.depth(), box.raw_pending(), box.quarantine_count()) == (0, [], 0)


def test_a_full_disk_gives_a_clear_error_and_keeps_what_was_stored(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.set_seq_base(0)
    box.append([("reading", {"n": 0})])
    # SQLite reports a full disk (SQLITE_FULL) when the file cannot grow; capping its pages
    # produces exactly that error without filling the machine's disk.
    box._db.execute(
        "PRAGMA max_page_count = " + str(box._db.execute("PRAGMA page_count").fetchone()[0])
    )
    big = "x" * 50_000
    with pytest.raises(OutboxError, match="full") as err:
        box.append([("reading", {"blob": big})])
    assert "free disk space" in str(err.value)
    with pytest.raises(OutboxError, match="full"):
        from datetime import UTC, datetime

        box.record_raw("AA:BB", "2a37", big.encode(), datetime.now(UTC))
    assert [i.payload for i in box.pending(10)] == [{"n": 0}]
    assert box.depth() == 1


def test_the_outbox_evicts_ecg_before_refusing_vitals(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_items=10)
    box.set_seq_base(0)
    box.append([("chunk", {"c": i}) for i in range(4)] + [("reading", {"r": i}) for i in range(3)])
    assert not box.near_full
    box.append([("reading", {"r": 3}), ("reading", {"r": 4})])
    assert box.near_full and box.depth() == 9
    box.append([("reading", {"r": 5}), ("reading", {"r": 6})])  # the oldest chunk goes
    assert box.evicted_chunks == 1 and box.depth() == 10
    assert [i.payload for i in box.pending(1)] == [{"c": 1}]
    box.append([("reading", {"r": i}) for i in range(7, 10)])  # the other three chunks go
    assert box.evicted_chunks == 4
    assert [i.item_kind for i in box.pending(20)] == ["reading"] * 10
    with pytest.raises(OutboxFull, match="limit 10"):
        box.append([("reading", {"r": 10})])
    assert box.depth() == 10 and len(box.pending(20)) == 10


def test_a_refused_append_leaves_depth_and_eviction_counts_right(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", max_items=10)
    box.set_seq_base(0)
    box.append([("reading", {"r": i}) for i in range(8)] + [("chunk", {"c": 0})])
    with pytest.raises(OutboxFull):
        box.append([("reading", {"r": i}) for i in range(5)])  # eviction of 1 chunk not enough
    assert box.depth() == 9 == len(box.pending(20))
    assert box.evicted_chunks == 0
    box.delete([i.seq for i in box.pending(20)])
    assert box.depth() == 0 and box.drained.is_set()
