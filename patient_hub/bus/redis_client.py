"""The Redis client the bus and the leases use: a cancellation is never lost in a command.

redis-py 8 gives every command a 5 s socket timeout, which it enforces with a timeout context;
on CPython before 3.12 that context can swallow a task's cancellation when the reply arrives
at the same moment (CPython gh-86296, seen here as a signal worker that, cancelled inside
XREADGROUP, went on looping in the "cancelling" state forever; issue redis/redis-py#2579 and
others describe the same family). A command that returns normally although its task was
cancelled while it ran raises ``CancelledError`` here, so the cancellation reaches the caller
as asyncio promises. Cancellations requested before the command started (a cancelled task's
own clean-up) are left alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis


class CancelSafeRedis(aioredis.Redis):
    """``redis.asyncio.Redis`` whose commands never swallow their task's cancellation."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        reply = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        if task is not None and task.cancelling() > before:
            raise asyncio.CancelledError  # requested mid-command and lost on the way back
        return reply


def connect(url: str) -> Any:
    """A client for ``url`` (connections are opened lazily, per command)."""
    return CancelSafeRedis.from_url(url)
