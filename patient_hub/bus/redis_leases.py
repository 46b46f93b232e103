"""Partition leases on Redis (see ``leases.py`` for the contract).

Members: a sorted set ``<prefix>members:<group>`` of member → expiry (ms, Redis clock). Leases:
one key per partition ``<prefix>lease:<group>:<p>`` holding the member's name with a TTL. Acquire,
renew and release are compare-and-set scripts, so a worker never extends or drops a lease that
another now holds. Times come from Redis (``TIME``), not from the workers' clocks.
"""

from __future__ import annotations

from typing import Any

from patient_hub.bus.leases import owner
from patient_hub.bus.redis_client import connect

# KEYS[1] lease; ARGV[1] member, ARGV[2] ttl ms. 1 when the member holds the lease afterwards.
_HOLD = """
local v = redis.call('GET', KEYS[1])
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS[1] lease; ARGV[1] member, ARGV[2] ttl ms. 1 when the member still holds it (extended).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""
# KEYS[1] members; ARGV[1] member, ARGV[2] ttl ms. The live members, after the heartbeat.
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class RedisLeases:
    """Leases on Redis; ``prefix`` namespaces the keys (the bus prefix)."""

    def __init__(self, url: str, *, prefix: str = "telemed:") -> None:
        self._redis: Any = connect(url)
        self._prefix = prefix
        self._hold = self._redis.register_script(_HOLD)
        self._release = self._redis.register_script(_RELEASE)
        self._heartbeat = self._redis.register_script(_HEARTBEAT)
        self._renew = self._redis.register_script(_RENEW)

    def _lease(self, group: str, partition: int) -> str:
        return f"{self._prefix}lease:{group}:{partition}"

    async def balance(self, group: str, member: str, partitions: int, ttl_s: float) -> set[int]:
        ttl_ms = max(1, int(ttl_s * 1000))
        members = await self._heartbeat(
            keys=[f"{self._prefix}members:{group}"], args=[member, ttl_ms]
        )
        live = sorted(m.decode() for m in members)
        held = set()
        for p in range(partitions):
            key = self._lease(group, p)
            if owner(p, live) == member:
                if await self._hold(keys=[key], args=[member, ttl_ms]):
                    held.add(p)
            else:
                await self._release(keys=[key], args=[member])
        return held

    async def renew(self, group: str, member: str, held: set[int], ttl_s: float) -> set[int]:
        ttl_ms = max(1, int(ttl_s * 1000))
        await self._heartbeat(keys=[f"{self._prefix}members:{group}"], args=[member, ttl_ms])
        still = set()
        for p in held:
            if await self._renew(keys=[self._lease(group, p)], args=[member, ttl_ms]):
                still.add(p)
        return still

    async def leave(self, group: str, member: str, partitions: int) -> None:
        await self._redis.zrem(f"{self._prefix}members:{group}", member)
        for p in range(partitions):
            await self._release(keys=[self._lease(group, p)], args=[member])

    async def close(self) -> None:
        await self._redis.aclose()
