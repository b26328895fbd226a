"""Fixtures for the reminder tests: the delivery tests' fakes and backends (`tests/jobs/conftest.py`), with a
job context and arq workers on a ManualClock.

The clock starts in January 2021 (a calendar the same as 2027's): the scheduler reads the whole database,
and every other test's messages are due later than that, so these tests hand only their own to delivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.clock import ManualClock
from gateway.jobs.context import JobContext, close_job_context, open_job_context
from gateway.jobs.queue import LocalQueue
from gateway.jobs.worker import make_worker
from gateway.settings import Settings
from tests.jobs.conftest import (  # noqa: F401 (fixtures used by these tests)
    backend,
    fake_twilio,
    live_redis,
    redis_prefix,
    sender_service,
    settings_for,
    smtp,
)

START = datetime(2021, 1, 4, 15, 0, tzinfo=UTC)  # Monday 4 January 2021, 09:00 in Chicago


@dataclass
class ClockedHarness:
    """A job context on `clock`, and a way to run the queue until it is idle (arq: burst workers on the clock)."""

    settings: Settings
    ctx: JobContext
    clock: ManualClock

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.ctx["sessions"]

    async def run(self, *, workers: int = 1) -> None:
        queue = self.ctx["queue"]
        if isinstance(queue, LocalQueue):
            await queue.join()
            return
        made = [
            make_worker(
                self.settings, clock=self.clock, burst=True, handle_signals=False, poll_delay=0.02, cron_jobs=[]
            )
            for _ in range(workers)
        ]
        try:
            await asyncio.gather(*(w.async_run() for w in made))
        finally:
            for w in made:
                await w.close()


@pytest.fixture
async def clocked(settings_for: Callable[..., Settings]) -> AsyncIterator[ClockedHarness]:  # noqa: F811
    settings = settings_for(scheduler_interval_seconds=3600.0)
    clock = ManualClock(START)
    ctx = await open_job_context(settings, clock=clock)
    yield ClockedHarness(settings, ctx, clock)
    await close_job_context(ctx)
