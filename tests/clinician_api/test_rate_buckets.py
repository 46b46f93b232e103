"""Token buckets: a minute's allowance as a burst, then the steady rate (clinician_api/rate_buckets.py)."""

from __future__ import annotations

from clinician_api.rate_buckets import RateBuckets


def test_a_burst_of_the_allowance_passes_and_the_next_waits() -> None:
    buckets = RateBuckets(per_minute=60)
    assert [buckets.take("u", 0.0) for _ in range(60)] == [0] * 60
    assert buckets.take("u", 0.0) == 1


def test_tokens_refill_at_the_steady_rate() -> None:
    buckets = RateBuckets(per_minute=6)
    for _ in range(6):
        buckets.take("u", 0.0)
    assert buckets.take("u", 5.0) == 5  # one request every 10 s; half a token so far
    assert buckets.take("u", 10.0) == 0


def test_keys_do_not_share_a_bucket() -> None:
    buckets = RateBuckets(per_minute=1)
    assert (buckets.take("a", 0.0), buckets.take("b", 0.0), buckets.take("a", 0.0)) == (0, 0, 60)


def test_idle_buckets_are_pruned_when_the_table_is_full() -> None:
    buckets = RateBuckets(per_minute=60, max_keys=2)
    buckets.take("a", 0.0)
    buckets.take("b", 0.0)
    buckets.take("c", 100.0)
    assert set(buckets._buckets) == {"c"}
