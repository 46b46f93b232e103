"""Partition leases: which worker holds which patient partitions (``partitions.py``).

A worker calls ``balance`` every few seconds. That heartbeats it as a live member of its group,
computes which partitions it should hold (rendezvous hashing over the live members, so a member
joining or leaving moves only its share), acquires or renews those leases and releases the
others. A lease expires ``ttl_s`` after its last renewal: a dead worker's partitions go to the
others within about ``ttl_s``, and a worker that could not renew in time (paused, cut off) finds
the lease gone at its next ``balance`` and drops the partition and its in-memory state. Only the
holder of a partition's lease consumes it, so one patient's analysis never splits.

Two implementations, one contract (``tests/patient_hub/bus/test_leases.py``): in-process
(``MemoryLeases``, the embedded default, one worker) and Redis (``RedisLeases``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Protocol


class Leases(Protocol):
    """Port for partition leases of a consumer group."""

    async def balance(self, group: str, member: str, partitions: int, ttl_s: float) -> set[int]:
        """Heartbeat ``member``; hold its share of ``partitions``, release the rest; return
        the partitions it holds now."""
        ...

    async def renew(self, group: str, member: str, held: set[int], ttl_s: float) -> set[int]:
        """Heartbeat ``member`` and extend the leases it holds among ``held`` (no rebalancing:
        for a worker busy with a long backlog); return those it still holds."""
        ...

    async def leave(self, group: str, member: str, partitions: int) -> None:
        """Release everything ``member`` holds and stop counting it as live (a clean stop)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


def owner(partition: int, members: Sequence[str]) -> str:
    """The member a partition belongs to among ``members`` (highest random weight)."""
    return max(
        members, key=lambda m: hashlib.blake2b(f"{m}/{partition}".encode(), digest_size=8).digest()
    )


class MemoryLeases:
    """Leases in this process's memory (one process: its workers share them)."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], float] = {}
        self._leases: dict[tuple[str, int], tuple[str, float]] = {}

    async def balance(self, group: str, member: str, partitions: int, ttl_s: float) -> set[int]:
        now = time.monotonic()
        self._members[(group, member)] = now + ttl_s
        live = sorted(m for (g, m), until in self._members.items() if g == group and until > now)
        held = set()
        for p in range(partitions):
            holder, until = self._leases.get((group, p), ("", 0.0))
            free = until <= now or holder == member
            if owner(p, live) == member and free:
                self._leases[(group, p)] = (member, now + ttl_s)
                held.add(p)
            elif holder == member:
                del self._leases[(group, p)]
        return held

    async def renew(self, group: str, member: str, held: set[int], ttl_s: float) -> set[int]:
        now = time.monotonic()
        self._members[(group, member)] = now + ttl_s
        still = set()
        for p in held:
            holder, until = self._leases.get((group, p), ("", 0.0))
            if holder == member and until > now:
                self._leases[(group, p)] = (member, now + ttl_s)
                still.add(p)
        return still

    async def leave(self, group: str, member: str, partitions: int) -> None:
        self._members.pop((group, member), None)
        for p in range(partitions):
            if self._leases.get((group, p), ("", 0.0))[0] == member:
                del self._leases[(group, p)]

    async def close(self) -> None:
        return None
