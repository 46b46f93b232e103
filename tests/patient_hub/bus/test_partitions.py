"""Patient partitions: stable, and what ingest publishes for the workers."""

from __future__ import annotations

from patient_hub.bus.memory import MemoryBus
from patient_hub.bus.partitions import (
    partition_of,
    publish_for_analysis,
    split_work_topic,
    work_topic,
)


def test_a_patients_partition_is_stable_across_processes() -> None:
    # CRC-32, not Python's per-process salted hash(): every node computes the same partition.
    assert partition_of("p1") == 0x3F386B33 % 32 == 19  # zlib.crc32(b"p1"), pinned
    assert {partition_of(f"sim-{i}") for i in range(1000)} == set(range(32))


def test_work_topic_names_round_trip() -> None:
    assert work_topic("readings", 7) == "readings.p07"
    assert split_work_topic("samples.p31") == ("samples", 31)


async def test_stored_items_go_to_the_plain_topic_and_to_their_patients_partition() -> None:
    bus = MemoryBus()
    items = [{"seq": 1, "patient_id": "p1"}, {"seq": 2, "patient_id": "p2"}]
    await publish_for_analysis(bus, "readings", "bridge-x", items)
    everything = await bus.consume("readings", "g", "c", block_s=0)
    assert [d.payload for d in everything] == [{"bridge_id": "bridge-x", "readings": items}]
    for item in items:
        got = await bus.consume(
            work_topic("readings", partition_of(item["patient_id"])), "g", "c", block_s=0
        )
        assert [d.payload["readings"] for d in got] == [[item]]
    await bus.close()
