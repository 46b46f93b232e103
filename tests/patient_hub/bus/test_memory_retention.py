"""The in-process bus keeps consumed history bounded by age as well as by count."""

from __future__ import annotations

import pytest

from patient_hub.bus import memory
from patient_hub.bus.memory import MemoryBus


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(memory.time, "monotonic", c)
    return c


async def test_consumed_history_older_than_the_limit_is_dropped(clock: Clock) -> None:
    bus = MemoryBus()
    for i in range(100):  # one message a second: 100 s of history, far below the count limit
        await bus.publish("t", {"i": i})
        assert len(await bus.consume("t", "g", "c", count=10, block_s=0)) == 1
        clock.now += 1.0
    kept = bus._topics["t"].log
    assert len(kept) <= 2 * memory._RETAIN_S + 1  # was all 100 until the count limit (20,000)
    assert kept[-1][1] == {"i": 99}


async def test_what_a_group_has_not_consumed_is_never_dropped(clock: Clock) -> None:
    bus = MemoryBus()
    await bus.consume("t", "slow", "c", block_s=0)  # a group that falls behind
    for i in range(100):
        await bus.publish("t", {"i": i})
        clock.now += 1.0
    got = await bus.consume("t", "slow", "c", count=1000, block_s=0)
    assert [d.payload["i"] for d in got] == list(range(100))
