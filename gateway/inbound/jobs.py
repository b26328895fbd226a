"""The inbound job functions the queue runs (registered in `gateway.jobs.registry`).

* `process_inbound(ctx, inbound_id)` — the handler chain over one stored message (job id
  `inbound:{id}`); safe to run twice: the second run finds the row no longer `received`.
* `sweep_inbound(ctx)` — enqueue messages left `received` for longer than
  GATEWAY_SWEEP_GRACE_SECONDS: their enqueue was lost (Redis down, a process killed between the
  commit and the enqueue) or their worker died mid-chain (which rolls back to `received`).
  Called by the delivery sweeper on every tick.
* `send_inbound_callback(ctx, inbound_id)` — see `gateway.inbound.callbacks`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select

from gateway.db import InboundMessage
from gateway.db.base import utcnow
from gateway.inbound.callbacks import send_inbound_callback
from gateway.inbound.pipeline import InboundDeps, run_pipeline
from gateway.inbound.store import InboundState, enqueue_processing

log = structlog.get_logger()

SWEEP_BATCH = 1000

__all__ = ["process_inbound", "send_inbound_callback", "sweep_inbound"]


async def process_inbound(ctx: dict[str, Any], inbound_id: str) -> str:
    """Run the handler chain over inbound message `inbound_id`."""
    return await run_pipeline(InboundDeps.from_ctx(ctx), uuid.UUID(inbound_id))


async def sweep_inbound(ctx: dict[str, Any]) -> int:
    """Enqueue `inbound:{id}` again for messages stuck in `received`; returns how many."""
    settings, sessions = ctx["settings"], ctx["sessions"]
    cutoff = utcnow() - timedelta(seconds=settings.sweep_grace_seconds)
    async with sessions() as session:
        stuck = (
            await session.scalars(
                select(InboundMessage.id)
                .where(InboundMessage.state == InboundState.RECEIVED.value, InboundMessage.received_at <= cutoff)
                .order_by(InboundMessage.received_at)
                .limit(SWEEP_BATCH)
            )
        ).all()
    for inbound_id in stuck:
        await enqueue_processing(ctx.get("queue"), inbound_id)
    if stuck:
        log.info("inbound.swept", requeued=len(stuck))
    return len(stuck)
