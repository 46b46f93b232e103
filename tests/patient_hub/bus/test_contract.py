"""The same contract for both bus implementations: in-process and Redis Streams."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from patient_hub.bus.base import Bus
from patient_hub.bus.memory import MemoryBus


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    if request.param == "memory":
        impl: Bus = MemoryBus()
    else:
        from patient_hub.bus.redis_streams import RedisBus

        url = request.getfixturevalue("redis_url")
        impl = RedisBus(url, prefix=f"test:{uuid.uuid4().hex}:")
    yield impl
    await impl.close()


async def test_a_group_receives_every_message_once_in_order(bus: Bus) -> None:
    for i in range(5):
        await bus.publish("t", {"i": i})
    got = await bus.consume("t", "g", "c1", count=10, block_s=0.5)
    assert [d.payload["i"] for d in got] == [0, 1, 2, 3, 4]
    assert await bus.consume("t", "g", "c1", count=10, block_s=0.1) == []


async def test_consumers_of_one_group_share_the_messages(bus: Bus) -> None:
    for i in range(6):
        await bus.publish("t", {"i": i})
    first = await bus.consume("t", "g", "c1", count=4, block_s=0.5)
    second = await bus.consume("t", "g", "c2", count=4, block_s=0.5)
    seen = [d.payload["i"] for d in first + second]
    assert sorted(seen) == list(range(6))
    assert len(first) == 4 and len(second) == 2


async def test_each_group_receives_all_messages(bus: Bus) -> None:
    for i in range(3):
        await bus.publish("t", {"i": i})
    a = await bus.consume("t", "ga", "c", count=10, block_s=0.5)
    b = await bus.consume("t", "gb", "c", count=10, block_s=0.5)
    assert [d.payload["i"] for d in a] == [d.payload["i"] for d in b] == [0, 1, 2]


async def test_unacked_messages_of_a_dead_consumer_are_reclaimed(bus: Bus) -> None:
    for i in range(3):
        await bus.publish("t", {"i": i})
    got = await bus.consume("t", "g", "dead", count=10, block_s=0.5)
    await bus.ack("t", "g", [got[0].id])
    await asyncio.sleep(0.05)
    taken = await bus.reclaim("t", "g", "alive", min_idle_s=0.01)
    assert sorted(d.payload["i"] for d in taken) == [1, 2]
    await bus.ack("t", "g", [d.id for d in taken])
    await asyncio.sleep(0.05)
    assert await bus.reclaim("t", "g", "alive", min_idle_s=0.01) == []


async def test_recently_delivered_messages_are_not_reclaimed(bus: Bus) -> None:
    await bus.publish("t", {"i": 0})
    await bus.consume("t", "g", "busy", count=10, block_s=0.5)
    assert await bus.reclaim("t", "g", "other", min_idle_s=60) == []


async def test_consume_waits_for_a_message_published_later(bus: Bus) -> None:
    await bus.consume("t", "g", "c", count=1, block_s=0.01)  # creates the group

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bus.publish("t", {"late": True})

    task = asyncio.create_task(later())
    got = await bus.consume("t", "g", "c", count=1, block_s=3)
    await task
    assert [d.payload for d in got] == [{"late": True}]


async def test_listeners_see_only_messages_published_after_they_started(bus: Bus) -> None:
    await bus.publish("t", {"i": "before"})
    async with bus.listen("t") as one, bus.listen("t") as two:
        for i in range(3):
            await bus.publish("t", {"i": i})
        got_one = [(await anext(one))["i"] for _ in range(3)]
        got_two = [(await anext(two))["i"] for _ in range(3)]
    assert got_one == got_two == [0, 1, 2]


async def test_a_lagging_group_loses_nothing_however_much_is_published() -> None:
    from patient_hub.bus import memory

    bus = MemoryBus()
    await bus.consume("t", "slow", "c", block_s=0)  # the group exists from the start
    total = 2 * memory._RETAIN + 10
    for i in range(total):
        await bus.publish("t", {"i": i})
    seen: list[int] = []
    while got := await bus.consume("t", "slow", "c", count=5000, block_s=0):
        seen += [d.payload["i"] for d in got]
    assert seen == list(range(total))
    await bus.close()


async def test_consume_many_takes_from_every_topic_and_names_it(bus: Bus) -> None:
    await bus.publish("a", {"i": 0})
    await bus.publish("b", {"i": 1})
    got = await bus.consume_many(["a", "b", "c"], "g", "c1", count=10, block_s=0.5)
    assert sorted((topic, d.payload["i"]) for topic, d in got) == [("a", 0), ("b", 1)]
    assert await bus.consume_many(["a", "b"], "g", "c1", count=10, block_s=0.05) == []


async def test_consume_many_waits_for_the_first_message_on_any_topic(bus: Bus) -> None:
    await bus.consume_many(["a", "b"], "g", "c", block_s=0.01)  # creates the groups

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bus.publish("b", {"late": True})

    task = asyncio.create_task(later())
    got = await bus.consume_many(["a", "b"], "g", "c", count=1, block_s=3)
    await task
    assert [(t, d.payload) for t, d in got] == [("b", {"late": True})]
