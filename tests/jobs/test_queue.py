"""The two JobQueue backends behave alike where a job can tell: dedupe by job id, deferral, Retry, job_try."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.worker import Retry, Worker, func

from gateway.jobs.queue import ArqQueue, LocalQueue, build_queue, queue_name
from gateway.jobs.registry import JobSpec
from tests.conftest import test_settings as make_settings


class Recorder:
    """Real job functions that write down what they saw."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, float]] = []  # (argument, job_try, loop time)
        self.running = 0
        self.most_running = 0

    async def record(self, ctx: dict[str, Any], arg: str = "") -> str:
        self.calls.append((arg, ctx["job_try"], asyncio.get_running_loop().time()))
        return arg

    async def retry_twice(self, ctx: dict[str, Any], arg: str) -> str:
        self.calls.append((arg, ctx["job_try"], asyncio.get_running_loop().time()))
        if ctx["job_try"] < 3:
            raise Retry(defer=0.05)
        return arg

    async def slow(self, ctx: dict[str, Any], arg: str) -> None:
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(float(arg))
        finally:
            self.running -= 1
        self.calls.append((arg, ctx["job_try"], asyncio.get_running_loop().time()))

    async def broken(self, ctx: dict[str, Any], arg: str) -> None:
        raise RuntimeError("a bug in a job")

    def specs(self) -> dict[str, JobSpec]:
        return {
            "record": JobSpec("record", self.record),
            "retry_twice": JobSpec("retry_twice", self.retry_twice, max_tries=5),
            "retry_limited": JobSpec("retry_limited", self.retry_twice, max_tries=2),
            "slow": JobSpec("slow", self.slow),
            "broken": JobSpec("broken", self.broken),
        }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def local(recorder: Recorder) -> AsyncIterator[LocalQueue]:
    queue = LocalQueue(recorder.specs(), {"shared": "value"}, max_jobs=2, job_timeout=1.0)
    yield queue
    await queue.close()


async def test_local_queue_dedupes_a_job_id_while_pending(local: LocalQueue, recorder: Recorder) -> None:
    assert await local.enqueue("record", "a", job_id="j1", defer_by=0.05) is True
    assert await local.enqueue("record", "b", job_id="j1") is False
    await local.join()
    assert await local.enqueue("record", "c", job_id="j1") is True  # finished ids can be used again
    await local.join()
    assert [c[0] for c in recorder.calls] == ["a", "c"]


async def test_local_queue_defers_and_retries_as_arq_does(local: LocalQueue, recorder: Recorder) -> None:
    start = asyncio.get_running_loop().time()
    await local.enqueue("record", "later", defer_by=0.1)
    await local.enqueue("retry_twice", "r", job_id="r")
    await local.enqueue("retry_limited", "x")
    await local.join()

    later = [c for c in recorder.calls if c[0] == "later"]
    assert later[0][2] - start >= 0.1
    tries = [c[1] for c in recorder.calls if c[0] == "r"]
    assert tries == [1, 2, 3]
    times = [c[2] for c in recorder.calls if c[0] == "r"]
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.05
    assert [c[1] for c in recorder.calls if c[0] == "x"] == [1, 2]  # max_tries=2: no third run


async def test_local_queue_join_waits_for_soon_but_not_for_the_morning(local: LocalQueue, recorder: Recorder) -> None:
    """A job deferred past the horizon (a text quiet hours hold until 08:00) stays scheduled; join returns."""
    await local.enqueue("record", "soon", defer_by=0.1)
    await local.enqueue("record", "morning", job_id="morning", defer_by=3600)
    await asyncio.wait_for(local.join(horizon=1.0), 5)
    assert [c[0] for c in recorder.calls] == ["soon"]
    assert not await local.enqueue("record", "morning", job_id="morning")  # still pending, not dropped


async def test_local_queue_bounds_concurrency_and_survives_errors(local: LocalQueue, recorder: Recorder) -> None:
    await local.enqueue("broken", "boom")
    for _ in range(5):
        await local.enqueue("slow", "0.05")
    await local.join()
    assert recorder.most_running == 2
    assert len(recorder.calls) == 5


async def test_local_queue_times_out_a_job(recorder: Recorder) -> None:
    queue = LocalQueue(recorder.specs(), {}, max_jobs=2, job_timeout=0.05)
    await queue.enqueue("slow", "5")
    started = asyncio.get_running_loop().time()
    await queue.join()
    assert asyncio.get_running_loop().time() - started < 1 and recorder.calls == []
    await queue.close()


async def test_local_queue_close_finishes_running_and_drops_deferred(recorder: Recorder) -> None:
    queue = LocalQueue(recorder.specs(), {}, max_jobs=1, job_timeout=5)
    await queue.enqueue("slow", "0.05")
    await queue.enqueue("slow", "0.01")  # waits for the slot: still runs
    await queue.enqueue("record", "deferred", defer_by=30)
    await asyncio.sleep(0)
    await asyncio.wait_for(queue.close(), 2)
    assert [c[0] for c in recorder.calls] == ["0.05", "0.01"]
    with pytest.raises(RuntimeError):
        await queue.enqueue("record", "after close")


async def test_local_queue_timer(recorder: Recorder) -> None:
    queue = LocalQueue(recorder.specs(), {}, max_jobs=1, job_timeout=1)
    queue.run_every(0.02, "record")
    await asyncio.sleep(0.15)
    await queue.close()
    assert len(recorder.calls) >= 3


@pytest.fixture
async def arq_queue(live_redis: str, redis_prefix: str) -> AsyncIterator[ArqQueue]:
    settings = make_settings("sqlite+aiosqlite:///unused.db", redis_url=live_redis, redis_prefix=redis_prefix)
    queue = await build_queue(settings, {})
    assert isinstance(queue, ArqQueue) and queue.name == queue_name(settings) == f"{redis_prefix}:queue"
    yield queue
    await queue.close()


async def test_arq_queue_dedupes_and_its_jobs_see_the_same_retry_semantics(
    arq_queue: ArqQueue, recorder: Recorder
) -> None:
    job_id = "r"
    assert await arq_queue.enqueue("retry_twice", "r", job_id=job_id) is True
    assert await arq_queue.enqueue("retry_twice", "again", job_id=job_id) is False
    worker = Worker(
        [func(recorder.retry_twice, name="retry_twice")],  # type: ignore[arg-type]
        queue_name=arq_queue.name,
        redis_pool=arq_queue.redis,
        burst=True,
        handle_signals=False,
        poll_delay=0.01,
        keep_result=0,
    )
    await worker.async_run()
    assert [c[1] for c in recorder.calls] == [1, 2, 3]
    assert await arq_queue.enqueue("retry_twice", "r", job_id=job_id) is True  # results are not kept
    await arq_queue.redis.delete(arq_queue.name, f"arq:job:{arq_queue.name}:{job_id}")


async def test_embedded_settings_build_a_local_queue(recorder: Recorder) -> None:
    queue = await build_queue(make_settings("sqlite+aiosqlite:///unused.db"), {})
    assert isinstance(queue, LocalQueue)
    await queue.close()
