"""Writing a broadcast's recipients a chunk at a time while the first ones send (`gateway.broadcasts.write`):
the pump starts once the first chunk is in, the broadcast is not finished while the writer works, a
cancel stops the writer, and a writer that stopped part-way is taken over by the sweeper's job
(`gateway.broadcasts.takeover`) without anyone written twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.broadcasts import control, preview
from gateway.broadcasts.lifecycle import Deps, NotNow, seal_upload, send
from gateway.broadcasts.pump import PUMP, pump_broadcast
from gateway.broadcasts.takeover import WRITE, resume_lost_writes, take_over_write
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.db import Broadcast, Notification, OptOut, Service
from gateway.domain import Channel
from gateway.outbound import recipient_index
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.broadcasts.test_pump import RecordingQueue, engine, job_context, make_broadcast
from tests.conftest import test_settings as make_settings
from tests.factories import ServiceUnderTest

__all__ = ["engine"]  # the fixture, shared with the pump's tests


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview, "CHUNK", 10)  # screened and written 10 at a time


def deps_for(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
             queue: Any) -> Deps:  # fmt: skip
    settings = make_settings(database_url)
    clock = ManualClock(datetime.now(UTC))
    return Deps(settings, engine, sessions, vault, Renderer(), TemplateStore(sessions), queue, clock)


async def draft(deps: Deps, service_id: uuid.UUID, count: int) -> uuid.UUID:
    """A draft to an uploaded list of `count` numbers (one of them twice: both rows are sent, as uploaded)."""
    rows = [(n, [f"+1202555{n:04d}", f"P{n}"]) for n in range(1, count)] + [(count, ["+12025550001", "P1 again"])]
    bid = uuid.uuid4()
    async with deps.sessions() as db:
        await db.execute(update(Service).where(Service.id == service_id).values(broadcast_approval_threshold=100_000))
        db.add(
            Broadcast(
                id=bid,
                service_id=service_id,
                name="Snow day",
                audience="list.csv",
                audience_spec={"kind": "upload", "value": "list.csv", "common": {}},
                upload_enc=seal_upload(deps.vault, ["phone number", "first_name"], rows, "list.csv"),
                message_enc=deps.vault.seal("Hi ((first_name)), the office is closed today."),
                status="draft",
            )
        )
        await db.commit()
    return bid


async def rows_of(sessions: async_sessionmaker[AsyncSession], bid: uuid.UUID) -> list[tuple[uuid.UUID, str, str]]:
    async with sessions() as db:
        found = await db.execute(
            select(Notification.id, Notification.recipient_index, Notification.status).where(
                Notification.broadcast_id == bid
            )
        )
        return [(i, index, status) for i, index, status in found]


class PumpWatch(RecordingQueue):
    """Records how many recipients were written when the pump was started, then runs `then` (if any)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], then: Any = None) -> None:
        super().__init__()
        self.sessions, self.then = sessions, then
        self.written_at_start: list[int] = []

    async def enqueue(
        self, function: str, *args: str, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        if function == PUMP:
            async with self.sessions() as db:
                count = await db.scalar(select(func.count()).where(Notification.broadcast_id == uuid.UUID(args[0])))
            self.written_at_start.append(int(count or 0))
            if self.then is not None:
                await self.then(uuid.UUID(args[0]))
        return await super().enqueue(function, *args, job_id=job_id, defer_by=defer_by)


async def test_the_pump_starts_after_the_first_chunk_and_the_writer_finishes(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
    service: ServiceUnderTest,
) -> None:  # fmt: skip
    queue = PumpWatch(sessions)
    deps = deps_for(database_url, engine, sessions, vault, queue)
    bid = await draft(deps, service.id, 25)
    assert await send(deps, bid, service.id) == 25
    assert queue.written_at_start == [10]  # sending may begin while 15 are still to be written
    written = await rows_of(sessions, bid)
    assert len(written) == 25 and len({i for i, _, _ in written}) == 25
    assert len({index for _, index, _ in written}) == 24  # the number uploaded twice: two rows, as uploaded
    async with sessions() as db:
        broadcast = await db.get(Broadcast, bid)
    assert broadcast is not None and broadcast.status == "sending" and broadcast.recipient_count == 25
    assert broadcast.written_at is not None and broadcast.pump_token == queue.of(PUMP)[0][1]


async def test_not_finished_while_the_writer_works(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
    service: ServiceUnderTest,
) -> None:  # fmt: skip
    bid = await make_broadcast(engine, sessions, vault, service.id, 3)
    async with sessions() as db:  # every row written so far is delivered; the writer has not written the last
        await db.execute(update(Notification).where(Notification.broadcast_id == bid).values(status="delivered"))
        await db.execute(update(Broadcast).where(Broadcast.id == bid).values(written_at=None))
        await db.commit()
    ctx = job_context(make_settings(database_url), engine, sessions)
    assert await pump_broadcast(ctx, str(bid), "tok") == "handed=0 queued=0"
    assert ctx["queue"].of(PUMP)  # it ticks again: more may come
    async with sessions() as db:
        assert (await db.get(Broadcast, bid)).status == "sending"  # type: ignore[union-attr]
        await db.execute(update(Broadcast).where(Broadcast.id == bid).values(written_at=datetime.now(UTC)))
        await db.commit()
    await pump_broadcast(ctx, str(bid), "tok")
    async with sessions() as db:
        assert (await db.get(Broadcast, bid)).status == "finished"  # type: ignore[union-attr]


async def test_a_cancel_while_writing_stops_the_writer_and_leaves_nothing_to_send(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
    service: ServiceUnderTest,
) -> None:  # fmt: skip
    async def cancel(bid: uuid.UUID) -> None:  # staff press Cancel once the first chunk is in
        assert await control.cancel(sessions, bid, service.id, "staff:x") == 10

    deps = deps_for(database_url, engine, sessions, vault, PumpWatch(sessions, then=cancel))
    bid = await draft(deps, service.id, 25)
    assert await send(deps, bid, service.id) == 10  # the writer stopped at the next chunk
    assert {status for _, _, status in await rows_of(sessions, bid)} == {"cancelled"}
    assert len(await rows_of(sessions, bid)) == 10
    ctx = job_context(make_settings(database_url), engine, sessions)
    assert await resume_lost_writes(ctx) >= 0  # type: ignore[arg-type]
    assert str(bid) not in [args[0] for args in ctx["queue"].of(WRITE)]  # cancelled: nobody resumes it


async def test_a_writer_that_stopped_part_way_is_taken_over_with_nobody_twice(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
    service: ServiceUnderTest,
) -> None:  # fmt: skip
    async def queue_down(bid: uuid.UUID) -> None:  # the queue cannot be reached as the pump is started
        raise ConnectionError("Redis went away")

    deps = deps_for(database_url, engine, sessions, vault, PumpWatch(sessions, then=queue_down))
    bid = await draft(deps, service.id, 25)
    with pytest.raises(ConnectionError):
        await send(deps, bid, service.id)
    first = await rows_of(sessions, bid)
    assert len(first) == 10  # one chunk in, committed; the broadcast stays claimed for the sweeper
    async with sessions() as db:
        broadcast = await db.get(Broadcast, bid)
        assert broadcast is not None and broadcast.status == "sending" and broadcast.written_at is None
    ctx = job_context(make_settings(database_url), engine, sessions) | {"vault": vault}
    assert str(bid) not in [a[0] for a in await _swept(ctx)]  # its writer's heartbeat is fresh: not yet
    async with sessions() as db:  # a minute later, no sign of its writer
        await db.execute(
            update(Broadcast).where(Broadcast.id == bid).values(writing_at=datetime.now(UTC) - timedelta(minutes=2))
        )
        await db.commit()
    assert str(bid) in [a[0] for a in await _swept(ctx)]
    assert await take_over_write(ctx, str(bid)) == "written=15"  # type: ignore[arg-type]
    assert await take_over_write(ctx, str(bid)) == "its writer is at work, or it is written"  # type: ignore[arg-type]
    written = await rows_of(sessions, bid)
    assert len(written) == 25 and {i for i, _, _ in first} <= {i for i, _, _ in written}
    assert len({index for _, index, _ in written}) == 24  # the number uploaded twice, twice; nobody else twice
    async with sessions() as db:
        broadcast = await db.get(Broadcast, bid)
    assert broadcast is not None and broadcast.written_at is not None and broadcast.recipient_count == 25
    assert broadcast.pump_token == ctx["queue"].of(PUMP)[-1][1]  # a pump of the taker's own


async def _swept(ctx: dict[str, Any]) -> list[tuple[str, ...]]:
    ctx["queue"] = RecordingQueue()
    await resume_lost_writes(ctx)  # type: ignore[arg-type]
    return ctx["queue"].of(WRITE)  # type: ignore[no-any-return]


async def test_an_audience_screened_out_entirely_stays_a_draft(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], vault: Vault,
    service: ServiceUnderTest,
) -> None:  # fmt: skip
    """Screening runs part by part as the recipients are written, after the claim: when it leaves everyone
    out (here: all replied STOP), the claim is undone and the sender is told why, as before any claim."""
    queue = PumpWatch(sessions)
    deps = deps_for(database_url, engine, sessions, vault, queue)
    bid = await draft(deps, service.id, 3)
    async with sessions() as db:
        for n in (1, 2):
            index = recipient_index(vault, Channel.SMS, f"+1202555{n:04d}")
            db.add(OptOut(service_id=service.id, channel="sms", address_index=index, sender="", source="t"))
        await db.commit()
    with pytest.raises(NotNow, match="Nobody in this audience"):
        await send(deps, bid, service.id)
    async with sessions() as db:
        broadcast = await db.get(Broadcast, bid)
    assert broadcast is not None and broadcast.status == "draft" and broadcast.writing_at is None
    assert await rows_of(sessions, bid) == [] and not queue.jobs
