"""Storing an inbound message: one row per provider message id, committed before anyone answers.

`store_inbound` inserts with ON CONFLICT DO NOTHING on (channel, provider_id), so a provider's
retry (Twilio resends a webhook it got no 200 for) or a re-sent email with the same Message-ID is
stored once; the caller learns whether this call created the row. Then `enqueue_processing` asks
the queue to run the handler chain; if that fails the row is still committed in state `received`
and `gateway.inbound.sweep` enqueues it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, cast

import structlog
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.crypto import Vault
from gateway.db import InboundMessage
from gateway.db.base import new_id, utcnow
from gateway.db.write_lock import write_lock
from gateway.domain import Channel

log = structlog.get_logger()

PROCESS_INBOUND = "process_inbound"
MAX_BODY_CHARS = 64 * 1024


class Enqueuer(Protocol):
    """The part of the job queue (`gateway.jobs.queue.JobQueue`) the inbound path uses."""

    async def enqueue(
        self, function: str, *args: str, job_id: str | None = None, defer_by: float | None = None
    ) -> bool: ...


class InboundState(StrEnum):
    """Where an inbound message is on its way through the handler chain."""

    RECEIVED = "received"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


@dataclass(frozen=True)
class Arrival:
    """One message as a provider handed it over, before it is sealed and stored."""

    service_id: uuid.UUID
    channel: Channel
    provider_id: str
    sender: str  # normalised: E.164, or the lower-cased email address
    recipient: str  # our number or reply address
    body: str
    media: Sequence[dict[str, Any]] = ()
    reply_to_notification_id: uuid.UUID | None = None


def inbound_row(vault: Vault, arrival: Arrival) -> dict[str, Any]:
    """The sealed row: body and sender encrypted, sender findable by blind index."""
    return {
        "id": new_id(),
        "service_id": arrival.service_id,
        "channel": arrival.channel.value,
        "provider_id": arrival.provider_id[:255],
        "sender_enc": vault.seal(arrival.sender),
        "sender_index": vault.blind_index(arrival.sender),
        "recipient": arrival.recipient[:320],
        "body_enc": vault.seal(arrival.body[:MAX_BODY_CHARS]),
        "media": [dict(m) for m in arrival.media],
        "received_at": utcnow(),
        "state": InboundState.RECEIVED.value,
        "decisions": [],
        "reply_to_notification_id": arrival.reply_to_notification_id,
    }


async def store_inbound(engine: AsyncEngine, vault: Vault, arrival: Arrival) -> tuple[uuid.UUID, bool]:
    """Commit the message unless this provider id is already stored: (row id, created now?)."""
    row = inbound_row(vault, arrival)
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    table = cast(Table, InboundMessage.__table__)  # Core, not ORM: this runs for every message
    stmt = (
        insert(table)
        .values(row)
        .on_conflict_do_nothing(index_elements=["channel", "provider_id"])
        .returning(table.c.id)
    )
    async with write_lock(engine), engine.begin() as conn:
        created = (await conn.execute(stmt)).scalar_one_or_none()
        if created is not None:
            return created, True
        existing = await conn.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel == row["channel"], InboundMessage.provider_id == row["provider_id"]
            )
        )
    assert existing is not None
    return existing, False


async def enqueue_processing(queue: Enqueuer | None, inbound_id: uuid.UUID) -> bool:
    """Ask the queue to run the handler chain; a failure is logged and left to the sweeper."""
    if queue is None:
        log.warning("inbound_not_enqueued", inbound_id=str(inbound_id), reason="no queue")
        return False
    try:
        return await queue.enqueue(PROCESS_INBOUND, str(inbound_id), job_id=f"inbound:{inbound_id}")
    except Exception as exc:  # the row is committed; the sweeper re-enqueues rows left `received`
        log.warning("inbound_enqueue_failed", inbound_id=str(inbound_id), error=type(exc).__name__)
        return False
