"""The pump: a bounded window handed out at the sender's rate, one chain per broadcast, pause and resume,
the sweeper leaving unhanded rows alone and restarting lost pumps, retry of failed recipients, and
`gateway broadcast status`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.broadcasts import control
from gateway.broadcasts.audience import Recipient
from gateway.broadcasts.cli import print_status
from gateway.broadcasts.content import Content, load_content
from gateway.broadcasts.lifecycle import NotNow
from gateway.broadcasts.preview import screen_parts
from gateway.broadcasts.pump import PUMP, pump_broadcast, restart_lost_pumps
from gateway.broadcasts.write import ANALYZE_FROM, write_recipients
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.db import Broadcast, Notification, Service
from gateway.db.engine import make_engine
from gateway.domain import Channel
from gateway.jobs.breaker import LocalBreaker
from gateway.jobs.delivery import DELIVER_BATCH
from gateway.live import InProcessHub
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.conftest import test_settings as make_settings
from tests.factories import ServiceUnderTest


class RecordingQueue:
    """A JobQueue that keeps what was enqueued (the jobs are run by hand, or not at all)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[str, ...], str | None, float | None]] = []

    async def enqueue(
        self, function: str, *args: str, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        self.jobs.append((function, args, job_id, defer_by))
        return True

    async def close(self) -> None:
        pass

    def of(self, function: str) -> list[tuple[str, ...]]:
        return [args for name, args, _, _ in self.jobs if name == function]


@pytest.fixture
async def engine(database_url: str) -> Any:
    made = make_engine(database_url)
    yield made
    await made.dispose()


async def make_broadcast(
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    count: int,
    *,
    status: str = "sending",
    token: str = "tok",
    numbers: Sequence[str] | None = None,
) -> uuid.UUID:
    renderer = Renderer()
    content: Content = await load_content(TemplateStore(sessions), service_id, template_id=None, message="Closed.")
    async with sessions() as db:
        service = await db.get(Service, service_id)
    assert service is not None
    bid = uuid.uuid4()
    numbers = numbers or [f"+1202555{i:04d}" for i in range(count)]
    recipients = [Recipient(Channel.SMS, number, {}) for number in numbers]
    now = datetime.now(UTC)
    new = {
        "service_id": service_id, "name": "t", "key_type": "live", "audience": "test",
        "audience_spec": {"kind": "upload"},
        "status": status, "recipient_count": 0, "left_out_count": 0, "created_at": now, "updated_at": now,
        "pump_token": token, "started_at": now,
    }  # fmt: skip
    async with sessions() as db:
        parts = screen_parts(db, vault, renderer, service, content, recipients, check_policy=False)
        await write_recipients(
            engine, vault, renderer, service, bid, content, parts, broadcast_values={}, new_broadcast=new
        )
    return bid


def job_context(settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {
        "settings": settings,
        "engine": engine,
        "sessions": sessions,
        "queue": RecordingQueue(),
        "live": InProcessHub(),
        "clock": ManualClock(datetime(2030, 3, 4, 15, 0, tzinfo=UTC)),
    }


async def handed(sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID) -> int:
    async with sessions() as db:
        return int(
            await db.scalar(
                select(func.count()).where(Notification.broadcast_id == bid, Notification.next_attempt_at.is_not(None))
            )
            or 0
        )


async def test_window_and_rate(
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
) -> None:
    settings = make_settings(database_url, broadcast_window=10, delivery_batch_size=4)
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == service.id).values(sms_per_second=100_000))
        await db.commit()
    bid = await make_broadcast(engine, sessions, vault, service.id, 30)
    ctx = job_context(settings, engine, sessions)
    assert await pump_broadcast(ctx, str(bid), "tok") == "handed=10 queued=0"
    batches = ctx["queue"].of(DELIVER_BATCH)
    assert [len(b) for b in batches] == [4, 4, 2]  # deliver_batch jobs of GATEWAY_DELIVERY_BATCH_SIZE
    assert await pump_broadcast(ctx, str(bid), "tok") == "handed=0 queued=10"  # the window is full
    async with sessions() as db:  # five were sent (the provider took them)
        sent = (
            await db.scalars(
                select(Notification.id)
                .where(Notification.broadcast_id == bid, Notification.next_attempt_at.is_not(None))
                .limit(5)
            )
        ).all()
        await db.execute(
            update(Notification).where(Notification.id.in_(sent)).values(status="sending", provider_ref="SM1")
        )
        await db.commit()
    assert await pump_broadcast(ctx, str(bid), "tok") == "handed=5 queued=5"
    # the sender's rate: 8 a second is 2 a tick
    async with sessions() as db:
        await db.execute(update(Service).where(Service.id == service.id).values(sms_per_second=8))
        await db.commit()
    slow = await make_broadcast(engine, sessions, vault, service.id, 10, token="slow")
    assert await pump_broadcast(ctx, str(slow), "slow") == "handed=2 queued=0"
    assert all(name in (PUMP, DELIVER_BATCH) for name, *_ in ctx["queue"].jobs)


async def test_one_chain_pause_resume_and_finish(
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
) -> None:
    settings = make_settings(database_url)
    bid = await make_broadcast(engine, sessions, vault, service.id, 3)
    ctx = job_context(settings, engine, sessions)
    assert await pump_broadcast(ctx, str(bid), "other") == "not this chain's, or not sending"
    async with sessions() as db:  # the owner's last tick is stale: another chain takes over
        await db.execute(
            update(Broadcast).where(Broadcast.id == bid).values(pumped_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await db.commit()
    assert (await pump_broadcast(ctx, str(bid), "other")).startswith("handed=3")
    assert await pump_broadcast(ctx, str(bid), "tok") == "not this chain's, or not sending"
    await control.pause(sessions, bid, service.id)
    assert await pump_broadcast(ctx, str(bid), "other") == "not this chain's, or not sending"
    with pytest.raises(NotNow):
        await control.pause(sessions, bid, service.id)
    queue = RecordingQueue()
    await control.resume(sessions, queue, bid, service.id)
    [(_, (_, token), _, _)] = queue.jobs
    async with sessions() as db:
        await db.execute(update(Notification).where(Notification.broadcast_id == bid).values(status="delivered"))
        await db.commit()
    await pump_broadcast(ctx, str(bid), token)
    async with sessions() as db:
        assert (await db.get(Broadcast, bid)).status == "finished"  # type: ignore[union-attr]


async def test_sweeper_leaves_unhanded_rows_to_the_pump_and_restarts_lost_pumps(
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
) -> None:
    from gateway.jobs.sweeper import sweep

    settings = make_settings(database_url, sweep_grace_seconds=0)
    bid = await make_broadcast(engine, sessions, vault, service.id, 5)
    async with sessions() as db:
        await db.execute(
            update(Notification)
            .where(Notification.broadcast_id == bid)
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
        await db.commit()
    ctx = job_context(settings, engine, sessions)
    ctx["breaker"] = LocalBreaker(5, 30)
    await sweep(ctx)  # type: ignore[arg-type]
    delivered_jobs = [args for name, args, _, _ in ctx["queue"].jobs if name.startswith("deliver")]
    async with sessions() as db:
        mine = {
            str(i) for i in (await db.scalars(select(Notification.id).where(Notification.broadcast_id == bid))).all()
        }
    assert not mine & {a for args in delivered_jobs for a in args}
    assert str(bid) in [args[0] for args in ctx["queue"].of(PUMP)]  # never pumped: a chain is started
    writing = await make_broadcast(engine, sessions, vault, service.id, 1)
    async with sessions() as db:  # a send that has claimed its draft and is still writing: not the sweeper's
        await db.execute(update(Broadcast).where(Broadcast.id == writing).values(started_at=None))
        await db.commit()
    ctx["queue"] = RecordingQueue()
    await restart_lost_pumps(ctx)  # type: ignore[arg-type]
    assert str(writing) not in [args[0] for args in ctx["queue"].of(PUMP)]


async def test_cancel_retry_and_status_command(
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bid = await make_broadcast(engine, sessions, vault, service.id, 4)
    async with sessions() as db:
        ids = (
            await db.scalars(select(Notification.id).where(Notification.broadcast_id == bid).order_by(Notification.id))
        ).all()
        await db.execute(update(Notification).where(Notification.id == ids[0]).values(status="delivered"))
        await db.execute(update(Notification).where(Notification.id == ids[1]).values(status="temporary-failure"))
        await db.execute(update(Notification).where(Notification.id == ids[2]).values(status="permanent-failure"))
        await db.commit()
    with pytest.raises(NotNow):
        await control.retry_failed(sessions, RecordingQueue(), bid, service.id)  # not finished yet
    assert await control.cancel(sessions, bid, service.id, "staff:x") == 1
    with pytest.raises(NotNow):
        await control.cancel(sessions, bid, service.id, "staff:x")
    async with sessions() as db:
        await db.execute(update(Broadcast).where(Broadcast.id == bid).values(status="finished"))
        await db.commit()
    queue = RecordingQueue()
    assert await control.retry_failed(sessions, queue, bid, service.id) == 1  # the temporary failure only
    assert queue.of(PUMP)
    settings = make_settings(database_url)
    assert await print_status(settings, str(bid)) == 0
    out = capsys.readouterr().out
    assert "queued 1 sent 0 delivered 1 failed 2 cancelled 1" in out and "4/5" in out and "(sending; test)" in out


async def test_a_big_write_analyzes_the_notifications_it_fills(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    """From ANALYZE_FROM recipients the write refreshes PostgreSQL's statistics in its transaction, so the
    pump's and delivery's look-ups use the indexes on a fresh install (`analyze_in_transaction`)."""
    # paused: written like any other, and no sweeper of the run (they share this database) starts a pump for it
    bid = await make_broadcast(engine, sessions, vault, service.id, ANALYZE_FROM, status="paused")
    async with sessions() as db:
        written = await db.scalar(select(func.count()).where(Notification.broadcast_id == bid))
        assert written == ANALYZE_FROM
        if db.get_bind().dialect.name == "postgresql":
            counted = await db.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'notifications'"))
            assert counted is not None and counted >= ANALYZE_FROM  # -1: never analyzed
