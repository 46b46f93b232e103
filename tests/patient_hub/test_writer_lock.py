"""The SQLite writer's queue: FIFO for ordinary writers, urgent ones first, never pre-empting."""

from __future__ import annotations

import asyncio

from patient_hub.writer_lock import WriterLock


async def _queue(lock: WriterLock, order: list[str], name: str, urgent: bool = False) -> None:
    if urgent:
        async with lock.urgent():
            order.append(name)
    else:
        async with lock:
            order.append(name)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_ordinary_writers_take_turns_in_arrival_order() -> None:
    lock, order = WriterLock(), []
    await lock.acquire()
    tasks = []
    for name in ("a", "b", "c"):
        tasks.append(asyncio.create_task(_queue(lock, order, name)))
        await _settle()
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"] and not lock.locked()


async def test_an_urgent_writer_goes_ahead_of_queued_ones_but_after_the_holder() -> None:
    lock, order = WriterLock(), []
    await lock.acquire()
    order.append("holder")
    tasks = [asyncio.create_task(_queue(lock, order, name)) for name in ("ingest-1", "ingest-2")]
    await _settle()
    tasks.append(asyncio.create_task(_queue(lock, order, "alert", urgent=True)))
    await _settle()
    assert order == ["holder"]  # the holder is never pre-empted
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["holder", "alert", "ingest-1", "ingest-2"]


async def test_a_cancelled_waiter_leaves_the_queue_working() -> None:
    lock, order = WriterLock(), []
    await lock.acquire()
    gone = asyncio.create_task(_queue(lock, order, "gone"))
    stays = asyncio.create_task(_queue(lock, order, "stays"))
    await _settle()
    gone.cancel()
    await _settle()
    lock.release()
    await stays
    assert order == ["stays"] and not lock.locked()


async def test_a_waiter_cancelled_as_the_lock_reaches_it_passes_it_on() -> None:
    lock, order = WriterLock(), []
    await lock.acquire()
    first = asyncio.create_task(_queue(lock, order, "first"))
    second = asyncio.create_task(_queue(lock, order, "second"))
    await _settle()
    lock.release()  # handed to "first"...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, return_exceptions=True)
    await second
    assert order == ["second"] and not lock.locked()


async def test_a_waiter_cancelled_just_before_a_release_ends_cancelled_and_the_lock_stays_usable() -> (
    None
):
    """The release runs before the cancelled waiter resumes: it skips the cancelled waiter, and
    the waiter, resuming, finds itself already gone from the queue (not a ValueError)."""
    lock = WriterLock()
    await lock.acquire()
    waiter = asyncio.create_task(lock.acquire())
    await asyncio.sleep(0)  # queued
    waiter.cancel()
    lock.release()  # before the waiter's task resumes
    (outcome,) = await asyncio.gather(waiter, return_exceptions=True)
    assert isinstance(outcome, asyncio.CancelledError)
    assert not lock.locked()
    async with asyncio.timeout(1):
        await lock.acquire()
    assert lock.locked()
