"""Prometheus metrics of the hub's parts (served at ``/metrics`` by every role).

Counters and histograms per batch, never per reading: the hot path pays one increment per
batch. Module-level metrics on the default registry: one process, one set of figures.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGEST_ITEMS = Counter(
    "telemed_ingest_items_total",
    "Readings and sample chunks acked to bridges, by result",
    ["result"],  # stored | duplicate
)
INGEST_BATCHES = Counter(
    "telemed_ingest_batches_total",
    "Bridge batches, by outcome",
    ["outcome"],  # acked | refused
)
INGEST_BATCH_SECONDS = Histogram(
    "telemed_ingest_batch_seconds",
    "Time from a parsed batch to its ack being ready (store, commit, publish)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BRIDGES_CONNECTED = Gauge("telemed_bridges_connected", "Bridges connected to this process")
WORKER_MESSAGES = Counter(
    "telemed_worker_messages_total", "Bus messages analysed by this process's signal worker"
)
WORKER_PARTITIONS = Gauge(
    "telemed_worker_partitions", "Patient partitions this process's signal worker holds"
)
WORKER_TAKEOVERS = Counter(
    "telemed_worker_takeovers_total", "Partitions this process's signal worker took over"
)
