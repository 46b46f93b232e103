"""Operations endpoints: /healthz, /readyz (per role) and Prometheus /metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import websockets
from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def test_metrics_count_what_ingest_acked(hub: Any, seed: Any) -> None:
    tokens = await seed(hub.settings.database_url)
    async with httpx.AsyncClient(base_url=hub.url) as client:
        before = (await client.get("/metrics")).text
        async with websockets.connect(hub.ws_url + "/ws/bridge") as ws:
            hello = {
                "type": "hello",
                "v": 1,
                "bridge_id": "bridge-p1",
                "token": tokens["bridge-p1"],
            }
            await ws.send(json.dumps(hello))
            await ws.recv()
            reading = {"patient_id": "p1", "device_id": "ox-1", "kind": "spo2", "value": 97,
                       "unit": "%", "measured_at": "2026-12-07T08:00:00Z"}  # fmt: skip
            frame = {"type": "batch", "v": 1, "batch_id": 1, "chunks": [],
                     "readings": [{**reading, "seq": s} for s in (1, 2, 3)]}  # fmt: skip
            await ws.send(json.dumps(frame))
            await ws.recv()
            await ws.send(json.dumps(frame))  # a replay: three duplicates
            await ws.recv()
        after = (await client.get("/metrics")).text
    stored = "telemed_ingest_items_total"
    assert sample(after, stored, result="stored") - sample(before, stored, result="stored") == 3
    dup = sample(after, stored, result="duplicate") - sample(before, stored, result="duplicate")
    assert dup == 3
    batches = "telemed_ingest_batches_total"
    assert sample(after, batches, outcome="acked") - sample(before, batches, outcome="acked") == 2


async def test_readyz_says_ready_once_the_worker_holds_its_partitions(hub: Any) -> None:
    async with httpx.AsyncClient(base_url=hub.url) as client:
        assert (await client.get("/healthz")).json()["role"] == "all"
        async with asyncio.timeout(30):
            while (reply := await client.get("/readyz")).status_code != 200:
                assert reply.headers["content-type"] == "application/problem+json"
                await asyncio.sleep(0.05)
    body = reply.json()
    assert (body["status"], body["partitions"]) == ("ready", list(range(32)))
