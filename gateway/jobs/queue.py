"""`JobQueue`: the one interface everything enqueues through, and its two backends.

* `ArqQueue` (scaled mode, GATEWAY_REDIS_URL set): arq on Redis. The queue is named after
  GATEWAY_REDIS_PREFIX. A deterministic `job_id` deduplicates: arq refuses a second job with an id
  that is queued or running (results are not kept, so a finished id can be enqueued again).
* `LocalQueue` (embedded mode): runs the same job functions in this process as asyncio tasks, at
  most `max_jobs` at once, each within the job timeout. It behaves as arq does where jobs can tell:
  a `job_id` is refused while pending or running; `defer_by` waits on the event loop; a job that
  raises `arq.worker.Retry(defer=...)` runs again after the delay with `ctx["job_try"]` one higher,
  up to the job's `max_tries`; any other exception is logged and the queue goes on. `close()`
  finishes what is running or ready and drops what is deferred: the rows are in the database, and
  the sweeper enqueues them again after a restart.

**The priority lane** (`priority=True`, used by victim notices: `gateway.victims`): arq takes jobs in
the order of their score, which is the time they are due, so a priority job is enqueued with a score
`PRIORITY_LEAD_SECONDS` in the past and is taken before every bulk job already waiting. `LocalQueue`
gives a free slot to a waiting priority job before any other. A priority job deferred (`defer_by`)
is due at its time, like any other.

The queue only says "look at row N now"; the database is the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.worker import Retry

from gateway.db.base import utcnow
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.jobs.registry import JobSpec

log = structlog.get_logger()
PRIORITY_LEAD_SECONDS = 3600.0


class JobQueue(Protocol):
    """Enqueue a job by function name with string arguments."""

    async def enqueue(
        self,
        function: str,
        *args: str,
        job_id: str | None = None,
        defer_by: float | None = None,
        priority: bool = False,
    ) -> bool:
        """True if queued; False if a job with this `job_id` is already queued or running. `priority`:
        taken ahead of every job not marked so (see the module docstring)."""

    async def close(self) -> None:
        """Release the connection (ArqQueue) or finish running jobs (LocalQueue)."""


def queue_name(settings: Settings) -> str:
    return f"{settings.redis_prefix}:queue"


def redis_settings(settings: Settings) -> RedisSettings:
    if not settings.redis_url:
        raise ValueError("GATEWAY_REDIS_URL is not set")
    return RedisSettings.from_dsn(settings.redis_url)


class ArqQueue:
    """Enqueues arq jobs on one queue of one Redis pool.

    arq writes each job under keys whose start it fixes (`arq:job:`, `arq:retry:`,
    `arq:in-progress:`, `arq:result:`, then the job id) and accepts no prefix for them. So every job
    id is given the queue name (`{GATEWAY_REDIS_PREFIX}:queue:`) in front: those keys then read
    `arq:job:{prefix}:queue:deliver:<id>`, and two gateways sharing one Redis never share a job key.
    """

    def __init__(self, redis: ArqRedis, name: str, *, owns_pool: bool = False) -> None:
        self.redis = redis
        self.name = name
        self._owns_pool = owns_pool

    @classmethod
    async def connect(cls, settings: Settings) -> ArqQueue:
        name = queue_name(settings)
        pool = await create_pool(redis_settings(settings), default_queue_name=name)
        return cls(pool, name, owns_pool=True)

    async def enqueue(
        self,
        function: str,
        *args: str,
        job_id: str | None = None,
        defer_by: float | None = None,
        priority: bool = False,
    ) -> bool:
        prefixed = f"{self.name}:{job_id}" if job_id is not None else None  # None: arq makes a random uuid
        if priority and not defer_by:
            defer_by = -PRIORITY_LEAD_SECONDS  # a score in the past: ahead of everything due now
        job = await self.redis.enqueue_job(function, *args, _job_id=prefixed, _defer_by=defer_by, _queue_name=self.name)
        return job is not None

    async def close(self) -> None:
        if self._owns_pool:
            await self.redis.aclose()


def is_priority(ctx: Mapping[str, Any]) -> bool:
    """Whether the running job was enqueued on the priority lane: `LocalQueue` says so in `ctx`; under arq
    its score (when it was due) lies `PRIORITY_LEAD_SECONDS` before the time it was enqueued."""
    if "priority" in ctx:
        return bool(ctx["priority"])
    score, enqueued = ctx.get("score"), ctx.get("enqueue_time")
    if not isinstance(score, int | float) or enqueued is None:
        return False
    return bool(score < enqueued.timestamp() * 1000 - PRIORITY_LEAD_SECONDS * 500)


class PrioritySlots:
    """At most `size` jobs at once; a freed slot goes to the longest-waiting priority job first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @contextlib.asynccontextmanager
    async def slot(self, priority: bool = False) -> AsyncIterator[None]:
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    async def acquire(self, priority: bool = False) -> None:
        if self._free > 0 and not any(self._waiting):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._waiting[0 if priority else 1]
        line.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot as it was cancelled: pass it on
            elif waiter in line:
                line.remove(waiter)
            raise

    def release(self) -> None:
        for line in self._waiting:
            while line:
                waiter = line.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1


class LocalQueue:
    """Runs jobs in this process; see the module docstring for how it mirrors arq."""

    def __init__(self, jobs: Mapping[str, JobSpec], ctx: dict[str, Any], *, max_jobs: int, job_timeout: float):
        self._jobs = jobs
        self._ctx = ctx
        self._slots = PrioritySlots(max_jobs)
        self._job_timeout = job_timeout
        self._pending: dict[str, asyncio.Task[None]] = {}
        self._deferred: dict[str, float] = {}  # job id -> when it is due (the event loop's clock)
        self._timers: list[asyncio.Task[None]] = []
        self._closing = False

    async def enqueue(
        self,
        function: str,
        *args: str,
        job_id: str | None = None,
        defer_by: float | None = None,
        priority: bool = False,
    ) -> bool:
        if self._closing:
            raise RuntimeError("the in-process queue is closed")
        spec = self._jobs[function]
        job_id = job_id or uuid.uuid4().hex
        if job_id in self._pending:
            return False
        task = asyncio.create_task(self._run(spec, job_id, args, defer_by or 0.0, priority), name=f"job {job_id}")
        self._pending[job_id] = task
        task.add_done_callback(lambda done: self._forget(job_id, done))
        return True

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._pending.get(job_id) is task:
            del self._pending[job_id]

    async def _run(self, spec: JobSpec, job_id: str, args: tuple[str, ...], defer: float, priority: bool) -> None:
        enqueued = utcnow()
        job_try = 1
        while True:
            if defer > 0:
                if self._closing:
                    return
                self._deferred[job_id] = asyncio.get_running_loop().time() + defer
                try:
                    await asyncio.sleep(defer)
                finally:
                    self._deferred.pop(job_id, None)
            if job_try > spec.max_tries:
                log.error("job.max_tries", job=spec.name, job_id=job_id, max_tries=spec.max_tries)
                return
            ctx = {**self._ctx, "job_id": job_id, "job_try": job_try, "enqueue_time": enqueued, "priority": priority}
            async with self._slots.slot(priority):
                try:
                    await asyncio.wait_for(spec.function(ctx, *args), spec.timeout or self._job_timeout)
                    return
                except Retry as retry:
                    defer = (retry.defer_score or 0) / 1000
                    log.debug("job.retry", job=spec.name, job_id=job_id, job_try=job_try, defer=defer)
                except Exception:
                    log.exception("job.failed", job=spec.name, job_id=job_id, job_try=job_try)
                    return
            job_try += 1
            if self._closing and defer <= 0:
                return

    def run_every(self, interval: float, function: str) -> None:
        """Enqueue `function` every `interval` seconds (one at a time) until the queue closes."""

        async def tick() -> None:
            while not self._closing:
                await asyncio.sleep(interval)
                if not self._closing:
                    await self.enqueue(function, job_id=f"{function}:timer")

        self._timers.append(asyncio.create_task(tick(), name=f"timer {function}"))

    async def join(self, *, horizon: float = 120.0) -> None:
        """Wait until no job is pending or running and none is deferred to within `horizon` seconds (jobs
        may enqueue more meanwhile). A job deferred further — a text held for the morning by quiet hours,
        a scheduled message — stays scheduled and is not waited for."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            waiting = [
                task for job_id, task in self._pending.items() if self._deferred.get(job_id, now) - now <= horizon
            ]
            if not waiting:
                return
            await asyncio.wait(waiting, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)

    async def close(self) -> None:
        self._closing = True
        for timer in self._timers:
            timer.cancel()
        await asyncio.gather(*self._timers, return_exceptions=True)
        while self._pending:
            for job_id in list(self._deferred):
                if task := self._pending.get(job_id):
                    task.cancel()
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)


async def build_queue(settings: Settings, ctx: dict[str, Any]) -> JobQueue:
    """ArqQueue when GATEWAY_REDIS_URL is set, else a LocalQueue running jobs with `ctx`."""
    from gateway.jobs.registry import jobs_by_name  # the registry imports the jobs, which use this module

    if settings.redis_url:
        return await ArqQueue.connect(settings)
    return LocalQueue(jobs_by_name(), ctx, max_jobs=settings.worker_max_jobs, job_timeout=settings.job_timeout_seconds)
