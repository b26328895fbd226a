"""The priority lane (victim notices ahead of bulk work): `PrioritySlots`, `LocalQueue(priority=True)`, and
arq on a real Redis, where a priority job is scored ahead of bulk jobs already waiting and run first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.worker import Worker, func

from gateway.jobs.queue import ArqQueue, LocalQueue, PrioritySlots, build_queue
from gateway.jobs.registry import JobSpec
from tests.conftest import test_settings as make_settings


async def test_a_freed_slot_goes_to_a_waiting_priority_job_first() -> None:
    slots, order = PrioritySlots(1), []

    async def job(name: str, priority: bool) -> None:
        async with slots.slot(priority):
            order.append(name)
            await asyncio.sleep(0.01)

    blocker = asyncio.create_task(job("first", False))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(job(n, p)) for n, p in (("bulk1", False), ("bulk2", False), ("victim", True))]
    await asyncio.gather(blocker, *waiting)
    assert order == ["first", "victim", "bulk1", "bulk2"]


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    slots = PrioritySlots(1)
    async with slots.slot():
        waiter = asyncio.create_task(slots.slot(True).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with asyncio.timeout(1):  # the slot is free again, not lost to the cancelled waiter
        async with slots.slot():
            pass


async def test_local_queue_runs_priority_jobs_before_waiting_bulk_jobs() -> None:
    order: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        order.append(name)
        await asyncio.sleep(0.005)

    queue = LocalQueue({"record": JobSpec("record", record)}, {}, max_jobs=1, job_timeout=5)
    for i in range(5):
        await queue.enqueue("record", f"bulk{i}")
    await queue.enqueue("record", "victim", priority=True)
    await queue.join()
    await queue.close()
    assert order.index("victim") <= 1 and order[-1] == "bulk4"


@pytest.fixture
async def arq_queue(live_redis: str, redis_prefix: str) -> AsyncIterator[ArqQueue]:
    settings = make_settings("sqlite+aiosqlite:///unused.db", redis_url=live_redis, redis_prefix=redis_prefix)
    queue = await build_queue(settings, {})
    assert isinstance(queue, ArqQueue)
    yield queue
    await queue.close()


async def test_arq_takes_a_priority_job_ahead_of_bulk_already_queued(arq_queue: ArqQueue) -> None:
    order: list[str] = []

    async def record(ctx: dict[str, Any], name: str) -> None:
        order.append(name)

    for i in range(20):
        assert await arq_queue.enqueue("record", f"bulk{i}", job_id=f"bulk{i}")
    assert await arq_queue.enqueue("record", "victim", job_id="victim", priority=True)
    scores = dict(await arq_queue.redis.zrange(arq_queue.name, 0, -1, withscores=True))
    victim = scores.pop(f"{arq_queue.name}:victim".encode())
    assert victim < min(scores.values())
    worker = Worker(
        [func(record, name="record")],  # type: ignore[arg-type]
        queue_name=arq_queue.name,
        redis_pool=arq_queue.redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
        keep_result=0,
        max_jobs=1,
    )
    await worker.async_run()
    assert order[0] == "victim" and len(order) == 21
