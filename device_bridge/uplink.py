"""Uplink: drains the outbox to the hub over protocol v1, deleting only what the hub acked.

One batch is in flight at a time (lock-step): the ack names the batch, and the bridge deletes
exactly the items it sent in it. On any failure the connection is dropped and re-established
with exponential backoff; unacked items are simply sent again (the hub dedupes by seq).

A slow hub is not a dead one. When no frame has come for ``ack_timeout_s`` while a batch waits
for its ack, the bridge probes the connection with a websocket ping: a pong (answered by the
hub's websocket stack, not by its batch handler) means the hub is alive and merely busy, so the
bridge goes on waiting instead of resending the whole batch onto a hub that has least to spare.
Only a connection that does not answer its ping, or a batch unacked for ``max_ack_wait_s``
although the hub answers, is dropped and its batch sent again. Any frame from the hub (an
unsolicited ``heartbeat`` included) also counts as life. See docs/protocol.md, "Slow hubs".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import websockets
from websockets.asyncio.client import ClientConnection

from device_bridge import service_log
from device_bridge.outbox import Outbox, OutboxItem
from telemed_core.errors import NotAuthenticated, TelemedError
from telemed_core.protocol import (
    Ack,
    Error,
    Heartbeat,
    Hello,
    Welcome,
    dump,
    parse_hub_frame,
)
from telemed_core.values import utc_now

log = logging.getLogger(__name__)
#: The batch list that carries each outbox item kind.
BATCH_FIELDS = {
    "reading": "readings",
    "chunk": "chunks",
    "patient": "patients",
    "consult": "consults",
}


@dataclass
class UplinkStatus:
    """What a status view shows about the link."""

    state: str = "idle"  # idle | connecting | online | backoff | stopped
    last_ack_at: datetime | None = None
    sent_items: int = 0
    acked_items: int = 0
    duplicates: int = 0
    reconnects: int = 0
    slow_acks: int = 0  # times a batch waited past ack_timeout_s on a live link (no resend)
    resent_batches: int = 0  # batches whose link failed before their ack (sent again later)
    last_error: str = ""
    rejected: list[str] = field(default_factory=list)


class Uplink:
    """Streams one bridge's outbox to ``url`` (``ws://hub/ws/bridge``)."""

    def __init__(
        self,
        url: str,
        bridge_id: str,
        token: str,
        outbox: Outbox,
        *,
        batch_size: int = 500,
        newest_first: bool = False,
        ack_timeout_s: float = 30.0,
        max_ack_wait_s: float = 600.0,
        heartbeat_s: float = 20.0,
        max_backoff_s: float = 30.0,
        on_ack: Callable[[int, float], None] | None = None,
        connect_slots: asyncio.Semaphore | None = None,
    ) -> None:
        self.url = url
        self.bridge_id = bridge_id
        self._token = token
        self.outbox = outbox
        self.batch_size = batch_size
        self.newest_first = newest_first
        self.ack_timeout_s = ack_timeout_s
        self.max_ack_wait_s = max_ack_wait_s
        self.heartbeat_s = heartbeat_s
        self.max_backoff_s = max_backoff_s
        #: Told (items, seconds from send to ack) of every acked batch (the load generator's
        #: ack latency).
        self.on_ack = on_ack
        #: Shared by the uplinks of one process that runs thousands (a load generator): at most
        #: that many open their connection and say hello at once, instead of all timing out
        #: together and retrying together. A real bridge has none.
        self.connect_slots = connect_slots
        self.status = UplinkStatus()
        self._batch_id = 0

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Keep the link up until ``stop`` is set; raise NotAuthenticated if the hub refuses."""
        stop = stop or asyncio.Event()
        backoff = 0.5
        while not stop.is_set():
            self._set_state("connecting")
            try:
                async with contextlib.AsyncExitStack() as stack:
                    async with self.connect_slots or contextlib.nullcontext():
                        ws = await stack.enter_async_context(
                            websockets.connect(self.url, max_size=2**24)
                        )
                        await self._handshake(ws)
                    backoff = 0.5
                    self._set_state("online")
                    await self._drain(ws, stop)
            except NotAuthenticated as exc:
                self._set_state("stopped", str(exc), level=logging.ERROR)
                raise
            except (
                OSError,
                websockets.WebSocketException,
                TimeoutError,
                ConnectionError,
                TelemedError,
            ) as exc:
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                log.info("uplink %s: %s; retrying in %.1f s", self.bridge_id, exc, backoff)
            if stop.is_set():
                break
            self._set_state("backoff", self.status.last_error, level=logging.WARNING)
            self.status.reconnects += 1
            try:
                async with asyncio.timeout(backoff * (0.5 + random.random())):
                    await stop.wait()
            except TimeoutError:
                pass
            backoff = min(backoff * 2, self.max_backoff_s)
        self._set_state("stopped")

    def _set_state(self, state: str, reason: str = "", level: int = logging.INFO) -> None:
        """Change the link state; every change is a structured log event."""
        if state == self.status.state:
            return
        before, self.status.state = self.status.state, state
        fields: dict[str, object] = {"bridge": self.bridge_id, "from": before, "to": state}
        if reason:
            fields["reason"] = reason
        service_log.event("link", level, **fields, outbox_depth=self.outbox.depth())

    async def _handshake(self, ws: ClientConnection) -> None:
        new_outbox = self.outbox.seq_base is None
        hello = Hello(
            bridge_id=self.bridge_id, token=self._token, software="telemed", new_outbox=new_outbox
        )
        await ws.send(dump(hello))
        frame = parse_hub_frame(await self._recv(ws))
        if isinstance(frame, Error):
            raise NotAuthenticated(f"hub refused bridge {self.bridge_id}: {frame.message}")
        if not isinstance(frame, Welcome):
            raise ConnectionError(f"expected welcome, got {frame.type}")
        if new_outbox:
            if frame.seq_base is None:
                raise ConnectionError("the hub reserved no sequence numbers for a new outbox")
            # Items captured before this moment are numbered now, above anything the hub holds.
            self.outbox.set_seq_base(frame.seq_base)

    async def _drain(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        while not stop.is_set():
            items = self.outbox.pending(self.batch_size, newest_first=self.newest_first)
            if not items:
                # Nothing pending: wait for an append (the event is set by every append, so
                # clearing it here, with no await since pending(), cannot miss one).
                self.outbox.changed.clear()
                await self._idle(ws, stop)
                continue
            await self._send_batch(ws, items)

    async def _idle(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(self.outbox.changed.wait())
        stopper = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, stopper}, timeout=self.heartbeat_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
            stopper.cancel()
        if not done:
            await ws.send(dump(Heartbeat(sent_at=utc_now())))
            await self._expect(ws, Heartbeat)

    async def _send_batch(self, ws: ClientConnection, items: list[OutboxItem]) -> None:
        self._batch_id += 1
        batch = {
            "type": "batch",
            "v": 1,
            "batch_id": self._batch_id,
            **{
                field: [i.wire() for i in items if i.item_kind == kind]
                for kind, field in BATCH_FIELDS.items()
            },
        }
        sent_at = asyncio.get_running_loop().time()
        await ws.send(_json(batch))
        self.status.sent_items += len(items)
        try:
            frame = await self._await_ack(ws)
        except BaseException:
            self.status.resent_batches += 1  # still in the outbox: the next link sends it again
            raise
        if isinstance(frame, Error):
            self._reject(items, frame)
            return
        assert isinstance(frame, Ack)
        if frame.batch_id != self._batch_id:
            raise ConnectionError(f"ack for batch {frame.batch_id}, expected {self._batch_id}")
        self.outbox.delete([i.seq for i in items])
        self.status.acked_items += len(items)
        self.status.duplicates += frame.duplicates
        self.status.last_ack_at = utc_now()
        if self.on_ack is not None:
            self.on_ack(len(items), asyncio.get_running_loop().time() - sent_at)

    def _reject(self, items: list[OutboxItem], error: Error) -> None:
        """The hub refused the batch (invalid or forbidden): keep it, report it, back off.

        Items are never dropped silently; an operator sees the error in the status view. The
        link reconnects, which retries after backoff (the cause may be a not-yet-enrolled
        patient)."""
        message = f"batch {error.batch_id} refused: {error.code}: {error.message}"
        self.status.last_error = message
        self.status.rejected.append(message)
        service_log.event(
            "batch_refused", logging.WARNING, bridge=self.bridge_id, code=error.code,
            message=error.message, items=len(items), first_seq=items[0].seq if items else None,
            outbox_depth=self.outbox.depth(),
        )  # fmt: skip
        raise ConnectionError(message)

    async def _await_ack(self, ws: ClientConnection) -> object:
        """The ack (or error) of the batch in flight. Silence longer than ``ack_timeout_s`` is
        probed with a ping; a live link is waited on up to ``max_ack_wait_s`` in all."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.max_ack_wait_s
        while True:
            try:
                return await self._expect(ws, Ack, Error)
            except TimeoutError:
                if loop.time() >= give_up_at:
                    raise TimeoutError(f"no ack within {self.max_ack_wait_s:.0f} s") from None
                await self._probe(ws)  # raises TimeoutError when the hub does not answer
                self.status.slow_acks += 1
                log.info("uplink %s: the hub is slow to ack, waiting on", self.bridge_id)

    async def _probe(self, ws: ClientConnection) -> None:
        """Ping the hub; TimeoutError if no pong within ``ack_timeout_s`` (a dead link)."""
        pong = await ws.ping()
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                await pong
        except TimeoutError:
            raise TimeoutError(f"no pong within {self.ack_timeout_s:.0f} s") from None

    async def _recv(self, ws: ClientConnection) -> str | bytes:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
        # races with completion, and a bridge task that cannot be stopped is a hung bridge.
        async with asyncio.timeout(self.ack_timeout_s):
            return await ws.recv()

    async def _expect(self, ws: ClientConnection, *kinds: type) -> object:
        while True:
            frame = parse_hub_frame(await self._recv(ws))
            if isinstance(frame, kinds):
                return frame
            if isinstance(frame, Heartbeat):
                continue
            raise ConnectionError(f"unexpected {frame.type} frame")


def _json(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))
