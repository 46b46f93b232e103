"""The uplink against a hub that is slow, dead or stuck: a slow hub's batch is waited for, not
sent again; a dead link or a batch never acked is dropped and sent again, and nothing is lost.

The hubs here are small protocol-v1 fakes (an old hub: it never sends a keep-alive of its
own), so each can be slowed or stopped exactly where the case needs it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from device_bridge.outbox import Outbox
from device_bridge.uplink import Uplink
from telemed_core.protocol import Ack, Heartbeat, Welcome, dump
from telemed_core.values import utc_now
from tests.device_bridge.test_uplink import fill

TOKEN = "t" * 32


class FakeHub:
    """Says welcome, records every batch, and acks each after ``on_batch`` returns."""

    def __init__(self, on_batch: Callable[[ServerConnection, int], Any]) -> None:
        self.on_batch = on_batch
        self.batches: list[list[int]] = []  # the sequence numbers of every batch received

    async def handler(self, ws: ServerConnection) -> None:
        hello = json.loads(await ws.recv())
        await ws.send(dump(Welcome(bridge_id=hello["bridge_id"], seq_base=0)))
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "heartbeat":
                await ws.send(dump(Heartbeat(sent_at=utc_now())))
                continue
            seqs = [r["seq"] for r in frame["readings"]]
            self.batches.append(seqs)
            if await self.on_batch(ws, len(self.batches)) is False:
                continue  # this one is never acked
            ack = Ack(batch_id=frame["batch_id"], up_to_seq=max(seqs), stored=len(seqs),
                      duplicates=0)  # fmt: skip
            await ws.send(dump(ack))


@asynccontextmanager
async def running(hub: FakeHub) -> AsyncIterator[str]:
    async with serve(hub.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/bridge"


async def drain(uplink: Uplink, timeout_s: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        async with asyncio.timeout(timeout_s):
            while uplink.outbox.depth():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task


async def test_a_slow_hub_that_answers_pings_is_waited_for_not_sent_the_batch_again(
    tmp_path: Path,
) -> None:
    """At 1,000 bridges the hub took 14 s per batch; each bridge's ack timeout then resent its
    whole batch onto the busiest hub. Here the hub takes 6 ack timeouts to ack."""

    async def slow(ws: ServerConnection, n: int) -> None:
        await asyncio.sleep(1.8)

    hub = FakeHub(slow)
    box = Outbox(tmp_path / "o.db")
    fill(box, 30)
    async with running(hub) as url:
        uplink = Uplink(url, "bridge-p1", TOKEN, box, ack_timeout_s=0.3)
        await drain(uplink)
    assert hub.batches == [list(range(1, 31))]  # sent once, acked once
    assert uplink.status.slow_acks >= 2 and uplink.status.reconnects == 0
    assert uplink.status.acked_items == 30 and uplink.status.resent_batches == 0


async def test_a_hub_keep_alive_during_a_slow_batch_keeps_the_link(tmp_path: Path) -> None:
    """A hub may send heartbeats while a batch is in progress: they count as life."""

    async def talking(ws: ServerConnection, n: int) -> None:
        for _ in range(6):
            await asyncio.sleep(0.2)
            await ws.send(dump(Heartbeat(sent_at=utc_now())))

    hub = FakeHub(talking)
    box = Outbox(tmp_path / "o.db")
    fill(box, 10)
    async with running(hub) as url:
        uplink = Uplink(url, "bridge-p1", TOKEN, box, ack_timeout_s=0.5)
        await drain(uplink)
    assert hub.batches == [list(range(1, 11))]
    assert uplink.status.slow_acks == 0 and uplink.status.reconnects == 0


async def test_a_hub_that_stops_answering_is_left_and_the_batch_sent_again(
    tmp_path: Path,
) -> None:
    """A hub whose process hangs (no pong either) is a dead link: reconnect, send again."""

    async def hang_once(ws: ServerConnection, n: int) -> None:
        if n == 1:
            time.sleep(1.5)  # noqa: ASYNC251 (on purpose: the hub hangs, no ack, no pong)

    hub = FakeHub(hang_once)
    ready = threading.Event()
    urls: list[str] = []
    done = threading.Event()

    async def serve_in_thread() -> None:
        async with running(hub) as url:
            urls.append(url)
            ready.set()
            while not done.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve_in_thread()))
    thread.start()
    try:
        assert ready.wait(10)
        box = Outbox(tmp_path / "o.db")
        fill(box, 20)
        uplink = Uplink(urls[0], "bridge-p1", TOKEN, box, ack_timeout_s=0.3)
        await drain(uplink)
    finally:
        done.set()
        thread.join(10)
    assert hub.batches[0] == hub.batches[-1] == list(range(1, 21)) and len(hub.batches) >= 2
    assert uplink.status.resent_batches >= 1 and uplink.status.reconnects >= 1
    assert box.depth() == 0


async def test_a_live_hub_that_never_acks_is_left_after_max_ack_wait(tmp_path: Path) -> None:
    async def never_first(ws: ServerConnection, n: int) -> bool:
        return n > 1  # the first batch is never acked, though pings are answered

    hub = FakeHub(never_first)
    box = Outbox(tmp_path / "o.db")
    fill(box, 5)
    async with running(hub) as url:
        uplink = Uplink(url, "bridge-p1", TOKEN, box, ack_timeout_s=0.2, max_ack_wait_s=1.0)
        started = time.monotonic()
        await drain(uplink)
    assert time.monotonic() - started >= 1.0
    assert hub.batches == [list(range(1, 6))] * 2  # the same items again, acked the second time
    assert uplink.status.slow_acks >= 2 and uplink.status.resent_batches == 1


async def test_uplinks_sharing_connect_slots_say_hello_a_few_at_a_time(tmp_path: Path) -> None:
    """A load generator's thousands of bridges all connecting at once timed out together and
    retried together; shared slots let a few open at a time."""
    hub = FakeHub(lambda ws, n: asyncio.sleep(0))
    greeting = 0
    most = 0
    handler = hub.handler

    async def slow_welcome(ws: ServerConnection) -> None:
        nonlocal greeting, most
        greeting += 1
        most = max(most, greeting)
        await asyncio.sleep(0.1)
        greeting -= 1
        await handler(ws)

    hub.handler = slow_welcome  # type: ignore[method-assign]
    slots = asyncio.Semaphore(2)
    boxes = [Outbox(tmp_path / f"o{i}.db") for i in range(6)]
    for box in boxes:
        fill(box, 3)
    async with running(hub) as url:
        links = [
            Uplink(url, f"b{i}", TOKEN, box, connect_slots=slots) for i, box in enumerate(boxes)
        ]
        await asyncio.gather(*(drain(u) for u in links))
    assert most == 2 and len(hub.batches) == 6
