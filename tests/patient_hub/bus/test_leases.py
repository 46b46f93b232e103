"""Partition leases, one contract for both implementations: in-process and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from patient_hub.bus.leases import Leases, MemoryLeases, owner

N = 32


@pytest.fixture(params=["memory", "redis"])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[Leases]:
    if request.param == "memory":
        impl: Leases = MemoryLeases()
    else:
        from patient_hub.bus.redis_leases import RedisLeases

        url = request.getfixturevalue("redis_url")
        impl = RedisLeases(url, prefix=f"test:{uuid.uuid4().hex}:")
    yield impl
    await impl.close()


async def test_a_lone_worker_holds_every_partition(leases: Leases) -> None:
    assert await leases.balance("g", "w1", N, ttl_s=5) == set(range(N))


async def test_two_workers_split_the_partitions_without_overlap(leases: Leases) -> None:
    await leases.balance("g", "w1", N, ttl_s=5)
    await leases.balance("g", "w2", N, ttl_s=5)  # w2 joins; w1 still holds everything
    one = await leases.balance("g", "w1", N, ttl_s=5)  # w1 lets go of w2's share
    two = await leases.balance("g", "w2", N, ttl_s=5)  # w2 takes it
    assert one | two == set(range(N)) and not one & two
    assert two == {p for p in range(N) if owner(p, ["w1", "w2"]) == "w2"}
    assert 8 <= len(two) <= 24  # rendezvous hashing spreads the share


async def test_a_partition_is_not_taken_while_its_holder_renews(leases: Leases) -> None:
    await leases.balance("g", "w1", N, ttl_s=5)
    assert await leases.balance("g", "w2", N, ttl_s=5) == set()


async def test_a_dead_workers_partitions_go_to_the_others_after_the_ttl(leases: Leases) -> None:
    await leases.balance("g", "dead", N, ttl_s=0.3)
    await leases.balance("g", "alive", N, ttl_s=0.3)
    await asyncio.sleep(0.4)  # the lease's own clock: nothing to await but its expiry
    assert await leases.balance("g", "alive", N, ttl_s=5) == set(range(N))


async def test_a_worker_that_leaves_hands_over_at_once(leases: Leases) -> None:
    await leases.balance("g", "w1", N, ttl_s=60)
    await leases.balance("g", "w2", N, ttl_s=60)
    await leases.leave("g", "w1", N)
    assert await leases.balance("g", "w2", N, ttl_s=60) == set(range(N))


async def test_groups_are_independent(leases: Leases) -> None:
    await leases.balance("a", "w1", N, ttl_s=5)
    assert await leases.balance("b", "w2", N, ttl_s=5) == set(range(N))


async def test_renew_extends_only_what_the_worker_still_holds(leases: Leases) -> None:
    await leases.balance("g", "w1", N, ttl_s=0.3)
    await asyncio.sleep(0.4)  # lapsed
    taken = await leases.balance("g", "w2", N, ttl_s=60)
    assert taken == set(range(N))
    assert await leases.renew("g", "w1", set(range(N)), ttl_s=60) == set()
    assert await leases.renew("g", "w2", {0, 1}, ttl_s=60) == {0, 1}
