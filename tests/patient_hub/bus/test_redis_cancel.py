"""A task cancelled inside a Redis command ends cancelled, even when the client swallows it.

redis-py 8 on CPython < 3.12 can lose a cancellation that arrives just as a reply does (its
per-command socket timeout, CPython gh-86296): a signal worker killed that way looped on in the
"cancelling" state forever. The race is rare, so the client under the bus is driven through it
deterministically: the parent ``execute_command`` below swallows the cancellation exactly as
the real one does when the race hits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from patient_hub.bus.redis_client import CancelSafeRedis, connect


async def _swallowing(self: Any, *args: Any, **options: Any) -> Any:
    try:
        await asyncio.sleep(3600)  # the blocking read
    except asyncio.CancelledError:
        pass  # the reply "arrived at the same moment": returned, the cancellation lost
    return None


async def _loop(client: Any, commands: list[str]) -> None:
    while True:  # a worker's loop: only a cancellation ends it
        await client.execute_command("XREADGROUP")
        commands.append("XREADGROUP")


async def test_a_cancellation_swallowed_inside_a_command_still_ends_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aioredis.Redis, "execute_command", _swallowing)
    client, commands = connect("redis://127.0.0.1:1/0"), []  # never connects: patched
    assert isinstance(client, CancelSafeRedis)
    task = asyncio.create_task(_loop(client, commands))
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done and task.cancelled()
    assert commands == []  # the loop did not go round again


async def test_the_plain_client_would_loop_on_the_same_race(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The control: without the guard the task is still running, 'cancelling', after 0.3 s."""
    monkeypatch.setattr(aioredis.Redis, "execute_command", _swallowing)
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
    task = asyncio.create_task(_loop(client, []))
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=0.3)
    assert not done and task.cancelling()
    monkeypatch.undo()
    task.cancel()  # now the real client: its next command fails fast (nothing listens)
    await asyncio.gather(task, return_exceptions=True)


async def test_a_cancelled_tasks_own_clean_up_still_runs_its_commands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cancellation requested before the command started is the caller's to handle: the
    guard only reports one that the command itself swallowed."""
    calls: list[str] = []

    async def quick(self: Any, *args: Any, **options: Any) -> Any:
        calls.append(args[0])
        return 1

    monkeypatch.setattr(aioredis.Redis, "execute_command", quick)
    client = connect("redis://127.0.0.1:1/0")

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:  # e.g. releasing leases on the way out
            await client.execute_command("DEL", "a")
            await client.execute_command("DEL", "b")

    task = asyncio.create_task(worker())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and calls == ["DEL", "DEL"]
