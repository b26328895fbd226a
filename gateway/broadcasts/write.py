"""Writing a broadcast's recipients: notifications in bulk, a chunk of rows a statement, one transaction.

Each row is built by `gateway.outbound.prepare_notification` (render, seal recipient and body, blind
index) with `broadcast_id`, `automatic=True` (quiet hours hold texts the gateway sends on its own) and,
for email, one-click unsubscribe; then a chunk (rows and their first status events) is written with
PostgreSQL's COPY, or on SQLite by `insert_notifications` (one multi-row INSERT each). The
broadcast's own row is updated in the same transaction, so its recipients and its status appear together or not at all.

An uploaded number or address that is a person's active contact point is linked to that person
(one query a chunk), so a reply reaches their conversation and the broadcast shows in their history.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.api.intake import insert_notifications
from gateway.broadcasts.audience import CHANNEL_KIND, Recipient
from gateway.broadcasts.content import Content
from gateway.broadcasts.preview import sender_of
from gateway.crypto import Vault
from gateway.db import Broadcast, ContactPoint, Service
from gateway.db.base import padded, utcnow
from gateway.db.engine import analyze_in_transaction
from gateway.db.write_lock import write_lock
from gateway.domain import KeyType
from gateway.outbound import prepare_notification, recipient_index
from gateway.templating import Rendered, Renderer

CHUNK = 1000
ANALYZE_FROM = 10_000  # recipients written in one go


async def write_recipients(
    engine: AsyncEngine,
    vault: Vault,
    renderer: Renderer,
    service: Service,
    broadcast_id: uuid.UUID,
    content: Content,
    recipients: Sequence[tuple[Recipient, Rendered | None]],
    *,
    key_type: KeyType = KeyType.LIVE,
    api_key_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
    broadcast_values: dict[str, Any],
    new_broadcast: dict[str, Any] | None = None,
) -> int:
    """Write one notification per recipient and update the broadcast row with `broadcast_values`, in one
    transaction; how many were written. Rendering problems were screened out before (an ApiError here
    writes nothing)."""
    written = 0
    async with write_lock(engine), engine.begin() as conn:
        if new_broadcast is not None:  # the API's job: its row and its recipients together, or nothing
            await conn.execute(insert(Broadcast).values(id=broadcast_id, **new_broadcast))
        for at in range(0, len(recipients), CHUNK):
            chunk = recipients[at : at + CHUNK]
            people = await _people_by_address(conn, vault, service.id, chunk)
            rows: list[dict[str, Any]] = []
            for (r, rendered), index in zip(chunk, people, strict=True):
                prepared = prepare_notification(
                    vault=vault,
                    renderer=renderer,
                    template=content.templates[r.channel],
                    channel=r.channel,
                    recipient=r.address,
                    personalisation=content.personalisation(r.channel, r.values),
                    service_id=service.id,
                    key_type=key_type,
                    api_key_id=api_key_id,
                    sender=sender_of(service, r.channel),
                    person_id=r.person_id or index,
                    case_id=r.case_id,
                    created_by_staff_id=created_by,
                    one_click_unsubscribe=True,
                    automatic=True,
                    rendered=rendered,
                )
                prepared.row["broadcast_id"] = broadcast_id
                rows.append(prepared.row)
            await _insert(conn, rows)
            written += len(rows)
        if written >= ANALYZE_FROM:  # the pump and delivery look these rows up next (stats: see the helper)
            await analyze_in_transaction(conn, "notifications", "notification_events")
        values = {"recipient_count": written, "updated_at": utcnow(), **broadcast_values}
        await conn.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(**values))
    return written


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The rows and their first status events: PostgreSQL's COPY (a few microseconds a row, in this
    transaction), else `insert_notifications` (multi-row INSERTs)."""
    if conn.dialect.name != "postgresql":
        await insert_notifications(conn, rows)
        return
    raw = (await conn.get_raw_connection()).driver_connection
    assert raw is not None
    columns = list(rows[0])
    await raw.copy_records_to_table(
        "notifications", records=[tuple(r[c] for c in columns) for r in rows], columns=columns
    )
    events = [(r["id"], r["status"], r["created_at"], None) for r in rows]
    await raw.copy_records_to_table(
        "notification_events", records=events, columns=["notification_id", "status", "at", "detail"]
    )


async def _people_by_address(
    conn: AsyncConnection, vault: Vault, service_id: uuid.UUID, chunk: Sequence[tuple[Recipient, Rendered | None]]
) -> list[uuid.UUID | None]:
    """For each recipient without a person, the person whose active contact point it is (else None)."""
    wanted: dict[tuple[str, str], int] = {}
    indexes: list[tuple[str, str] | None] = []
    for r, _ in chunk:
        if r.person_id is not None:
            indexes.append(None)
            continue
        pair = (CHANNEL_KIND[r.channel], recipient_index(vault, r.channel, r.address))
        indexes.append(pair)
        wanted[pair] = 1
    if not wanted:
        return [None] * len(chunk)
    rows = await conn.execute(
        select(ContactPoint.kind, ContactPoint.value_index, ContactPoint.person_id).where(
            ContactPoint.service_id == service_id,
            ContactPoint.retired_at.is_(None),
            ContactPoint.kind.in_(padded({k for k, _ in wanted})),
            ContactPoint.value_index.in_(padded({i for _, i in wanted})),
        )
    )
    found = {(kind, index): person for kind, index, person in rows}
    return [found.get(pair) if pair else None for pair in indexes]
