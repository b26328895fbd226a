"""Resuming a broadcast whose writer stopped part-way (the web process restarted, the database went
away mid-write): the sweeper finds it, a worker finishes the writing.

A broadcast being written has `written_at` empty and its writer's heartbeat, `writing_at`, moves with
each chunk (`gateway.broadcasts.write`). Once the heartbeat is WRITE_STALE old, `resume_lost_writes`
(run by the sweeper) enqueues `broadcast_write` for it; the job claims the write with a conditional
UPDATE of the heartbeat (so one taker at a time), resolves and screens the audience again, and writes
what is missing: the ids are derived from the list, so rows already written are skipped and nobody is
sent it twice. It restarts the pump with a new token, as the first writer started one. A broadcast whose
content can no longer be made (its template archived meanwhile), or whose every remaining recipient is
now left out, keeps what was written: it is marked written, so its pump finishes it, and it is logged.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import ColumnElement, or_, select, update

from gateway.broadcasts.lifecycle import Deps, NotNow, audience_of, write_out
from gateway.broadcasts.write import WRITABLE, NobodyKept
from gateway.db import Broadcast
from gateway.db.base import utcnow
from gateway.errors import ApiError
from gateway.template_store import TemplateStore
from gateway.templating import shared_renderer

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
WRITE = "broadcast_write"
WRITE_STALE = timedelta(seconds=60)  # a chunk takes well under a second; screening 100,000 a few


def _lost(before: datetime) -> list[ColumnElement[bool]]:
    """A writable broadcast not written yet whose writer's last sign of life is before `before`."""
    return [
        Broadcast.status.in_(WRITABLE),
        Broadcast.written_at.is_(None),
        or_(Broadcast.writing_at.is_(None), Broadcast.writing_at < before),
    ]


async def resume_lost_writes(ctx: JobContext) -> int:
    """For the sweeper: a `broadcast_write` job for each broadcast whose writer has gone quiet."""
    async with ctx["sessions"]() as db:
        lost = (
            await db.execute(select(Broadcast.id, Broadcast.writing_at).where(*_lost(utcnow() - WRITE_STALE)))
        ).all()
    for bid, beat in lost:
        stamp = int(beat.timestamp()) if beat else 0
        await ctx["queue"].enqueue(WRITE, str(bid), job_id=f"broadcast-write:{bid}:{stamp}")
    return len(lost)


async def take_over_write(ctx: JobContext, broadcast_id: str) -> str:
    """Finish writing a broadcast whose writer went quiet; see the module docstring."""
    bid = uuid.UUID(broadcast_id)
    async with ctx["sessions"]() as db:
        service_id = await db.scalar(
            update(Broadcast)
            .where(Broadcast.id == bid, *_lost(utcnow() - WRITE_STALE))
            .values(writing_at=utcnow())
            .returning(Broadcast.service_id)
        )
        await db.commit()
    if service_id is None:
        return "its writer is at work, or it is written"
    sessions = ctx["sessions"]
    deps = Deps(
        ctx["settings"],
        ctx["engine"],
        sessions,
        ctx["vault"],
        shared_renderer(),
        TemplateStore(sessions),
        ctx["queue"],
        ctx["clock"],
    )
    try:
        written = await write_out(deps, await audience_of(deps, bid, service_id))
    except (NotNow, ApiError, NobodyKept) as exc:  # its content is gone (a template archived), or its audience
        reason = exc.message if isinstance(exc, ApiError) else str(exc) or "nobody left to send it to"
        async with ctx["sessions"]() as db:  # what is written is all it gets: its pump can finish it
            await db.execute(update(Broadcast).where(Broadcast.id == bid).values(written_at=utcnow()))
            await db.commit()
        log.error("broadcast.write_abandoned", broadcast_id=broadcast_id, reason=reason)
        return f"abandoned: {reason}"
    log.info("broadcast.write_resumed", broadcast_id=broadcast_id, written=written)
    return f"written={written}"
