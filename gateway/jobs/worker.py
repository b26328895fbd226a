"""The arq worker: `worker_settings(settings)` for arq, and `run_worker` behind `gateway worker`.

Settings it reads: GATEWAY_REDIS_URL (required), GATEWAY_REDIS_PREFIX (queue `{prefix}:queue`),
GATEWAY_WORKER_MAX_JOBS, GATEWAY_JOB_TIMEOUT_SECONDS, GATEWAY_SCHEDULER_INTERVAL_SECONDS (due reminders and
scheduled messages, a cron like the sweeper's), GATEWAY_SWEEP_INTERVAL_SECONDS (the sweeper's
cron: every that many seconds, or whole minutes past 60; arq's cron only takes clock positions,
so an interval that does not divide a minute or an hour is approximate).

Results are not kept (`keep_result=0`): a deterministic job id deduplicates only while the job is
queued or running, so the sweeper can enqueue `deliver:{id}` again once a run has finished.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from arq.cron import cron
from arq.worker import Worker, func

from gateway.appointments.scheduler import SEND_DUE, send_due_scheduled
from gateway.clock import Clock
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.queue import queue_name, redis_settings
from gateway.jobs.registry import JOBS
from gateway.jobs.sweeper import sweep
from gateway.settings import Settings

if TYPE_CHECKING:
    from arq.typing import WorkerCoroutine


# arq looks for due jobs this often (its default, 0.5 s, adds a quarter of a second to every delivery on
# average); a look is one ZRANGEBYSCORE, so 20 a second cost well under 1% of a core.
POLL_DELAY_SECONDS = 0.05


def queue_read_limit(max_jobs: int) -> int:
    """Job ids the worker reads from the queue at a time. arq starts the ids it has read, in order, as
    slots free up, and reads again only then: a job on the priority lane (`gateway.jobs.queue`) that
    arrives meanwhile waits behind every id read ahead. A fifth of the slots (at least 10) keeps that
    wait short and still starts up to 200 jobs a second at the 50 ms poll."""
    return max(10, max_jobs // 5)


class WorkerConfigError(Exception):
    """The worker cannot start with these settings; the message says which to set."""


def _cron_times(interval: float) -> dict[str, set[int]]:
    seconds = max(1, round(interval))
    if seconds < 60:
        return {"second": set(range(0, 60, seconds))}
    return {"minute": set(range(0, 60, max(1, round(seconds / 60)))), "second": {0}}


def worker_settings(settings: Settings, *, clock: Clock | None = None) -> dict[str, Any]:
    """Keyword arguments for `arq.worker.Worker` (arq's WorkerSettings, as a dict); `clock` as in
    `gateway.clock` (the real time unless a test gives its own)."""

    async def on_startup(ctx: dict[str, Any]) -> None:
        await open_job_context(settings, ctx, redis=ctx["redis"], clock=clock)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await close_job_context(ctx)

    name = queue_name(settings)
    functions = [
        func(cast("WorkerCoroutine", spec.function), name=spec.name, max_tries=spec.max_tries, timeout=spec.timeout)
        for spec in JOBS
    ]
    sweeper = cron(
        cast("WorkerCoroutine", sweep),
        name=f"cron:{name}:sweep",  # arq job ids are global to Redis; the queue name keeps them apart
        run_at_startup=True,
        **_cron_times(settings.sweep_interval_seconds),  # type: ignore[arg-type]
    )
    scheduler = cron(
        cast("WorkerCoroutine", send_due_scheduled),
        name=f"cron:{name}:{SEND_DUE}",
        run_at_startup=True,
        **_cron_times(settings.scheduler_interval_seconds),  # type: ignore[arg-type]
    )
    return {
        "functions": functions,
        "cron_jobs": [sweeper, scheduler],
        "redis_settings": redis_settings(settings),
        "queue_name": name,
        "max_jobs": settings.worker_max_jobs,
        "queue_read_limit": queue_read_limit(settings.worker_max_jobs),
        "poll_delay": POLL_DELAY_SECONDS,
        "job_timeout": settings.job_timeout_seconds,
        "keep_result": 0,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
    }


def make_worker(settings: Settings, *, clock: Clock | None = None, **overrides: Any) -> Worker:
    """An arq Worker for these settings (`burst=True`, `handle_signals=False`... as overrides)."""
    if not settings.redis_url:
        raise WorkerConfigError(
            "GATEWAY_REDIS_URL is not set: a worker takes jobs from Redis. In embedded mode "
            "(no Redis) `gateway serve` delivers in its own process and needs no worker."
        )
    return Worker(**{**worker_settings(settings, clock=clock), **overrides})


async def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run a worker until SIGINT/SIGTERM (or, with `burst`, until the queue is empty)."""
    worker = make_worker(settings, burst=burst)
    try:
        await worker.async_run()
    except asyncio.CancelledError:  # arq's signal handler cancels its main task: a normal stop
        pass
    finally:
        await worker.close()
