"""Replaying failed inbound messages (`gateway inbound replay`, and later the staff UI).

A failed message kept its row, its stage and its error, and none of the chain's writes (the chain
is one transaction). Replaying puts it back to `received` (clearing stage and error) and runs the
chain again, here and now, so the operator sees the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from gateway.db import InboundMessage
from gateway.inbound.pipeline import InboundDeps, run_pipeline
from gateway.inbound.store import InboundState
from handlers.base import Handler


@dataclass(frozen=True)
class ReplayResult:
    inbound_id: uuid.UUID
    outcome: str  # processed | failed | skipped (was not failed) | missing
    stage: str | None = None


async def failed_ids(deps: InboundDeps, service_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    query = select(InboundMessage.id).where(InboundMessage.state == InboundState.FAILED.value)
    if service_id is not None:
        query = query.where(InboundMessage.service_id == service_id)
    async with deps.sessions() as session:
        return list((await session.scalars(query.order_by(InboundMessage.received_at))).all())


async def replay(
    deps: InboundDeps, ids: Sequence[uuid.UUID], chain: Sequence[Handler] | None = None
) -> list[ReplayResult]:
    """Re-run each failed message in `ids` through the chain; others are reported, not touched."""
    results = []
    for inbound_id in ids:
        async with deps.sessions() as session:
            reset = await session.execute(
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id, InboundMessage.state == InboundState.FAILED.value)
                .values(state=InboundState.RECEIVED.value, stage=None, error=None)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if not getattr(reset, "rowcount", 0):
                exists = await session.scalar(select(InboundMessage.state).where(InboundMessage.id == inbound_id))
                results.append(ReplayResult(inbound_id, "missing" if exists is None else f"skipped ({exists})"))
                continue
        outcome = await run_pipeline(deps, inbound_id, chain)
        stage = None
        if outcome == InboundState.FAILED.value:
            async with deps.sessions() as session:
                stage = await session.scalar(select(InboundMessage.stage).where(InboundMessage.id == inbound_id))
        results.append(ReplayResult(inbound_id, outcome, stage))
    return results
