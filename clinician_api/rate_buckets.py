"""Token buckets keyed by client (user or IP address), for the REST request-rate limits.

A bucket holds up to ``per_minute`` requests and refills continuously at ``per_minute / 60``
per second, so a client may burst a minute's allowance and then proceeds at the steady rate.
Idle buckets are dropped once the table grows past ``max_keys`` so an address scan cannot grow
memory without bound. Time comes from the caller (monotonic seconds) so tests need no sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_s: float


class RateBuckets:
    """``take(key, now_s)`` spends one request; it returns 0 when allowed, else the seconds to
    wait before one request is available again (the Retry-After value, rounded up)."""

    def __init__(self, per_minute: int, max_keys: int = 50_000) -> None:
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str, now_s: float) -> int:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now_s)
            bucket = self._buckets[key] = _Bucket(self.capacity, now_s)
        elapsed_s = max(0.0, now_s - bucket.at_s)
        bucket.tokens = min(self.capacity, bucket.tokens + elapsed_s * self.rate_per_s)
        bucket.at_s = now_s
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate_per_s))

    def _prune(self, now_s: float) -> None:
        if len(self._buckets) < self.max_keys:
            return
        full_after_s = self.capacity / self.rate_per_s
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            if now_s - bucket.at_s < full_after_s
        }
