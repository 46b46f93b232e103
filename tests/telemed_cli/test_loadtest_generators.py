"""The load generator split over processes: every bridge runs in exactly one generator with
the node, ECG and scenario one process would give it; the parent sums the counts and takes the
percentiles over every generator's samples."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from device_bridge.uplink import Uplink
from patient_hub.db import make_engine, make_sessionmaker
from patient_hub.ingest.models import ReadingRow, SampleChunkRow
from telemed_cli import simulate
from telemed_cli.loadtest import pcts
from telemed_cli.loadtest_generators import (
    COUNTERS,
    CRISIS,
    generator_count,
    merge,
    plan,
    run_generators,
)
from telemed_cli.simulate import SimBridge


def cohort(n: int, prefix: str = "sim") -> list[SimBridge]:
    return [SimBridge(f"{prefix}-bridge-{i}", f"{prefix}-{i}", f"t{i}" * 9) for i in range(n)]


def test_each_bridge_is_dealt_once_with_what_one_process_gave_it(tmp_path: Path) -> None:
    nodes = ["http://ingest-1", "http://ingest-2", "http://ingest-3"]
    bridges, streams = cohort(45), cohort(5, "sim-ecg")
    one = plan(nodes, bridges, streams, 10, tmp_path, 1)[0]
    split = plan(nodes, bridges, streams, 10, tmp_path, 4)
    assert len(split) == 4
    for key in ("bridges", "ecg_streams"):
        dealt = [b for spec in split for b in spec[key]]
        assert sorted(dealt, key=str) == sorted(one[key], key=str)  # each once, unchanged
        assert all(len(spec[key]) <= -(-len(one[key]) // 4) for spec in split)  # evenly
    by_id = {b["bridge_id"]: b for b in one["bridges"]}
    assert by_id["sim-bridge-0"]["ecg"] and by_id["sim-bridge-10"]["ecg"]
    assert not by_id["sim-bridge-1"]["ecg"] and by_id["sim-bridge-1"]["scenario"] == CRISIS
    assert (
        by_id["sim-bridge-21"]["scenario"] == CRISIS and by_id["sim-bridge-2"]["scenario"] is None
    )
    assert [by_id[f"sim-bridge-{i}"]["url"] for i in range(4)] == [*nodes, nodes[0]]


def test_ten_thousand_bridges_get_several_generators_each_under_the_file_limit() -> None:
    """Four files a bridge (outbox, WAL, index, socket): 10,000 in one process passed 20,000."""
    assert generator_count(100) == generator_count(2_500) == 1
    assert generator_count(10_000) == 4 and generator_count(10_100) == 5


def result(produced: int, ack_ms: list[float], at: float, **counts: int) -> dict[str, Any]:
    return {"produced": produced, "set_up_at": at - 5, "started_at": at, "finished_at": at + 10,
            "ack_ms": ack_ms, **dict.fromkeys(COUNTERS, 0), **counts}  # fmt: skip


def test_counts_are_summed_and_percentiles_taken_over_all_samples() -> None:
    busy = result(900, [1000.0] * 50, 100.0, reconnects=2, resent_batches=1)
    quiet = result(100, [10.0] * 50 + [20.0] * 50, 102.0, slow_acks=3)
    merged = merge([busy, quiet])
    assert merged["produced"] == 1000 and merged["reconnects"] == 2
    assert merged["resent_batches"] == 1 and merged["slow_acks"] == 3
    assert (merged["started_at"], merged["finished_at"]) == (100.0, 112.0)
    assert (merged["set_up_at"], merged["online_at"]) == (95.0, 102.0)
    # Over the 150 samples: the median is 20 ms, where the mean of the medians is 510 ms.
    assert pcts(merged["ack_ms"]) == {"p50": 20.0, "p99": 1000.0}


async def stored(database_url: str) -> list[tuple[str, int]]:
    """(bridge, seq) of every reading and sample chunk stored."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            keys: list[tuple[str, int]] = []
            for row in (ReadingRow, SampleChunkRow):
                keys += [(b, q) for b, q in await s.execute(select(row.bridge_id, row.seq))]
            return keys
    finally:
        await engine.dispose()


async def test_two_generator_processes_deliver_every_reading_once(
    hub: Any, seed: Any, tmp_path: Path
) -> None:
    tokens = await seed(hub.settings.database_url)
    bridges = [SimBridge(f"bridge-{p}", p, tokens[f"bridge-{p}"]) for p in ("p1", "p2", "p3")]
    sent = await run_generators(plan([hub.url], bridges, [], 3, tmp_path, 2))
    assert sent["produced"] > 0 and sent["acked_items"] == sent["produced"]
    assert sent["duplicates"] == sent["resent_batches"] == 0 and sent["ack_ms"]
    keys = await stored(hub.settings.database_url)
    assert len(keys) == len(set(keys)) == sent["produced"]  # every item of both, once
    assert {b for b, _ in keys} == {"bridge-p1", "bridge-p2", "bridge-p3"}


async def test_no_bridge_produces_before_every_uplink_of_its_generator_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 2,500 bridges a generator took minutes to set up its outboxes: the first bridges
    produced all along while no uplink ran, and that wait showed as the hub's latency."""
    running: list[str] = []
    seen_by_producers: list[int] = []

    class Idle(Uplink):
        async def run(self, stop: asyncio.Event | None = None) -> None:
            running.append(self.bridge_id)

    async def produce(*_: Any) -> int:
        seen_by_producers.append(len(running))
        return 0

    monkeypatch.setattr(simulate, "Uplink", Idle)
    monkeypatch.setattr(simulate, "produce", produce)
    await simulate.run_bridges("ws://127.0.0.1:9", cohort(5), seconds=1, outbox_dir=tmp_path)
    assert seen_by_producers == [5] * 5
