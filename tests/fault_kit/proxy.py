"""A loopback TCP proxy that cuts every connection through it, mid-frame."""

from __future__ import annotations

import asyncio
import contextlib
import random

from device_bridge.uplink import Uplink


class CuttingProxy:
    """A loopback TCP proxy to ``127.0.0.1:target_port`` that can cut every connection through
    it at once, mid-frame (both sides aborted: the bridge and the hub see a reset)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0  # connections cut
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> int:
        """Abort every open connection; returns how many."""
        pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        self.cuts += len(pairs)
        return len(pairs)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._pairs.discard(pair)
        for w in pair:
            w.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


async def cut_during(
    proxy: CuttingProxy, uplinks: list[Uplink], total: int, times: int, rng: random.Random
) -> list[int]:
    """Cut the proxy's connections ``times`` times at random points of the stream (when the
    uplinks together have had a random 10-90 % of ``total`` items acked), so that every cut
    falls mid-stream however fast the machine; returns how many connections each cut found."""
    found = []
    for fraction in sorted(rng.uniform(0.1, 0.9) for _ in range(times)):
        async with asyncio.timeout(120):
            while sum(u.status.acked_items for u in uplinks) < fraction * total:
                await asyncio.sleep(0.002)
        found.append(proxy.cut())
    return found
