"""The job context: what every job finds in `ctx`, built by one function wherever jobs run or are enqueued.

`open_job_context` is called by the arq worker's `on_startup` (with arq's own `ctx` and Redis pool)
and by the web app's `cleanup_ctx` (with the app's engine and vault), so both build their clients
the same way; `close_job_context` undoes it in reverse. What it holds:

| key      | what                                                                       |
| settings | `Settings`                                                                 |
| engine, sessions | the database (the caller's engine if given, else a new one it disposes) |
| vault    | seals and opens recipients and bodies                                      |
| senders  | one `ChannelSender` per channel (empty in a scaled web process: it sends nothing) |
| sandbox  | sandbox senders, for test API keys whatever the settings                   |
| queue    | the `JobQueue` (arq in a worker or scaled web app, in-process otherwise)   |
| limiter  | the `RateLimiter` (Redis when the queue is arq, else in process memory)    |
| breaker  | the senders' circuit breakers (`gateway.jobs.breaker`; Redis or in process, as the limiter) |
| send_slots | sends in flight at once in this process (GATEWAY_DELIVERY_CONCURRENCY); priority-lane jobs' sends first |
| live     | the `LiveHub` for pushes to staff browsers (Redis pub/sub when scaled)     |
| clock    | the `Clock` for due times and quiet hours (`gateway.clock`; the real time unless given) |

arq adds `redis`, `job_id`, `job_try`, `enqueue_time` and `score`; `LocalQueue` adds the same ids.
In embedded mode the in-process queue also runs the sweeper every GATEWAY_SWEEP_INTERVAL_SECONDS and
the scheduler of due reminders every GATEWAY_SCHEDULER_INTERVAL_SECONDS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, cast

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.channels import ChannelSender, build_senders, close_senders, sandbox_senders
from gateway.clock import SYSTEM_CLOCK, Clock
from gateway.crypto import Vault
from gateway.db.engine import engine_from_settings, session_factory
from gateway.domain import Channel
from gateway.jobs.breaker import Breaker, LocalBreaker, RedisBreaker
from gateway.jobs.queue import ArqQueue, JobQueue, LocalQueue, PrioritySlots, build_queue, queue_name
from gateway.letters.channel import LetterSender
from gateway.live import LiveHub, make_live_hub
from gateway.sendtime.ratelimit import LocalRateLimiter, RateLimiter, RedisRateLimiter
from gateway.settings import Settings

_OWNS_ENGINE = "_owns_engine"


class JobContext(TypedDict, total=False):
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    senders: dict[Channel, ChannelSender]
    sandbox: dict[Channel, ChannelSender]
    queue: JobQueue
    limiter: RateLimiter
    breaker: Breaker
    send_slots: PrioritySlots
    live: LiveHub
    clock: Clock
    # set per job by arq / LocalQueue
    redis: ArqRedis
    job_id: str
    job_try: int
    enqueue_time: datetime


async def open_job_context(
    settings: Settings,
    ctx: dict[str, Any] | None = None,
    *,
    engine: AsyncEngine | None = None,
    vault: Vault | None = None,
    redis: ArqRedis | None = None,
    with_senders: bool = True,
    clock: Clock | None = None,
) -> JobContext:
    """Fill `ctx` (or a new dict) with the clients jobs use; see the module docstring."""
    ctx = {} if ctx is None else ctx
    ctx[_OWNS_ENGINE] = engine is None
    engine = engine or engine_from_settings(settings)
    ctx.update(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        vault=vault or Vault(settings.secret),
        sandbox=sandbox_senders(),
        senders=await build_senders(settings) if with_senders else {},
        live=make_live_hub(settings),
        send_slots=PrioritySlots(settings.delivery_concurrency),
        clock=clock or SYSTEM_CLOCK,
    )
    # Letters never leave the gateway here (the print batch takes them on), so every key type uses this one.
    letters = LetterSender(engine, ctx["sessions"], ctx["vault"])
    ctx["sandbox"][Channel.LETTER] = letters
    if with_senders:
        ctx["senders"][Channel.LETTER] = letters
    # A worker enqueues on arq's own pool; the web app opens one (or runs jobs in process).
    queue = ArqQueue(redis, queue_name(settings)) if redis is not None else await build_queue(settings, ctx)
    ctx["queue"] = queue
    ctx["limiter"] = (
        RedisRateLimiter(queue.redis, settings.redis_prefix) if isinstance(queue, ArqQueue) else LocalRateLimiter()
    )
    threshold, probe = settings.breaker_failures, settings.breaker_probe_seconds
    ctx["breaker"] = (
        RedisBreaker(queue.redis, settings.redis_prefix, threshold, probe)
        if isinstance(queue, ArqQueue)
        else LocalBreaker(threshold, probe)
    )
    if isinstance(queue, LocalQueue):
        queue.run_every(settings.sweep_interval_seconds, "sweep")
        queue.run_every(settings.scheduler_interval_seconds, "send_due_scheduled")  # gateway.appointments.scheduler
    return cast(JobContext, ctx)


async def close_job_context(ctx: JobContext | dict[str, Any]) -> None:
    """Finish or drop queued work, then close senders and (if it made it) the engine."""
    if "queue" in ctx:
        await ctx["queue"].close()
    for senders in (ctx.get("senders", {}), ctx.get("sandbox", {})):
        await close_senders(senders)
    if "live" in ctx:
        await ctx["live"].close()
    if ctx.get(_OWNS_ENGINE) and "engine" in ctx:
        await ctx["engine"].dispose()
