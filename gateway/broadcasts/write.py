"""Writing a broadcast's recipients: notifications in bulk, a part of the audience a transaction, as
it is screened, while the first ones already send.

Each row is built by `gateway.outbound.prepare_notification` (render, seal recipient and body, blind
index) with `broadcast_id`, `automatic=True` (quiet hours hold texts the gateway sends on its own) and,
for email, one-click unsubscribe; then a part (rows and their first status events) is written with
PostgreSQL's COPY, or on SQLite by `insert_notifications` (one multi-row INSERT each).

**Parts, committed as they come.** The audience arrives screened a part at a time
(`gateway.broadcasts.preview.screen_parts`). The first part's transaction also sets the broadcast's
new values (its status, pump token): then `started` runs (the caller starts the pump), so the first
texts go while the rest are screened and written. Each transaction begins with a conditional UPDATE
of the broadcast row (its heartbeat, `writing_at`, and the count so far): a broadcast cancelled
meanwhile stops the writer there, and a cancel waits for the part in hand (the row lock), so its
sweep of `created` rows sees it. A last, small transaction sets `written_at` and the final counts;
until then the pump does not call the broadcast finished.

**Nothing twice.** A recipient's notification id is derived from the broadcast, the channel, the
recipient's blind index and how many times that recipient came before in the list
(`recipient_ids`), and rows already written are skipped. So a writer that died part-way is resumed
(`gateway.broadcasts.takeover`) by writing the same list again, and two writers racing on one chunk
collide on the primary key instead of sending twice.

An uploaded number or address that is a person's active contact point is linked to that person
(one query a chunk), so a reply reaches their conversation and the broadcast shows in their history.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.api.intake import insert_notifications
from gateway.broadcasts.audience import CHANNEL_KIND, Recipient
from gateway.broadcasts.content import Content
from gateway.broadcasts.preview import Screened, sender_of
from gateway.crypto import Vault
from gateway.db import Broadcast, ContactPoint, Notification, Service
from gateway.db.base import padded, utcnow
from gateway.db.engine import analyze_in_transaction
from gateway.db.write_lock import write_lock
from gateway.domain import KeyType
from gateway.outbound import prepare_notification, recipient_index
from gateway.templating import Rendered, Renderer

ANALYZE_FROM = 10_000  # recipients written: the pump and delivery look these rows up next
WRITABLE = ("scheduled", "sending", "paused")  # lifecycle's statuses a writer may go on in

Kept = tuple[Recipient, Rendered]


def recipient_ids(
    vault: Vault, broadcast_id: uuid.UUID, recipients: Iterable[Recipient], seen: Counter[tuple[str, str]] | None = None
) -> list[tuple[uuid.UUID, str]]:
    """Each recipient's notification id and blind index: the same list gives the same ids, whoever writes
    it. `seen`: the recipients of the list's earlier parts, when it is taken a part at a time."""
    seen = Counter() if seen is None else seen
    out = []
    for r in recipients:
        key = (r.channel.value, recipient_index(vault, r.channel, r.address))
        seen[key] += 1
        out.append((uuid.uuid5(broadcast_id, f"{key[0]}:{key[1]}:{seen[key]}"), key[1]))
    return out


class NobodyKept(Exception):
    """Screening left every recipient out: nothing was written, and the broadcast is as it was."""


async def write_recipients(
    engine: AsyncEngine,
    vault: Vault,
    renderer: Renderer,
    service: Service,
    broadcast_id: uuid.UUID,
    content: Content,
    parts: AsyncIterable[Screened],
    *,
    key_type: KeyType = KeyType.LIVE,
    api_key_id: uuid.UUID | None = None,
    created_by: uuid.UUID | None = None,
    broadcast_values: dict[str, Any],
    left_out_before: int = 0,
    new_broadcast: dict[str, Any] | None = None,
    started: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Write the screened recipients not written yet, a part a transaction, as the parts come (see the
    module docstring); how many this call wrote. It stops early, writing nothing more, once the broadcast
    is cancelled or finished; NobodyKept when screening left everyone out. The last transaction sets
    `written_at` and the counts (`left_out_before`: left out before screening, such as bad upload rows)."""
    existing = set() if new_broadcast is not None else await _existing(engine, broadcast_id)
    seen: Counter[tuple[str, str]] = Counter()
    written = kept = left_out = 0
    begun = False

    async def commit(chunk: list[tuple[Kept, uuid.UUID, str]], values: dict[str, Any]) -> bool:
        async with write_lock(engine), engine.begin() as conn:
            if new_broadcast is not None and not begun:  # the API's job: its row and its first recipients together
                await conn.execute(insert(Broadcast).values(id=broadcast_id, **new_broadcast))
            going = await conn.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.status.in_(WRITABLE))
                .values(updated_at=utcnow(), writing_at=utcnow(), **values)
            )
            if not going.rowcount:  # cancelled (or finished) meanwhile: nobody sends the rest
                return False
            if chunk:
                people = await _people_by_address(conn, service.id, chunk)
                rows = _rows(
                    vault, renderer, service, broadcast_id, content, chunk, people, key_type, api_key_id, created_by
                )
                await _insert(conn, rows)
            if written + len(chunk) >= ANALYZE_FROM > written:
                await analyze_in_transaction(conn, "notifications", "notification_events")
        return True

    async for part in parts:
        left_out += len(part.left_out)
        kept += len(part.kept)
        ids = recipient_ids(vault, broadcast_id, (r for r, _ in part.kept), seen)
        chunk = [(k, nid, index) for k, (nid, index) in zip(part.kept, ids, strict=True) if nid not in existing]
        if not chunk and (begun or not part.kept):  # nobody new here (a resumed writer: written before)
            continue
        values = {"recipient_count": len(existing) + written + len(chunk)} | ({} if begun else broadcast_values)
        if not await commit(chunk, values):
            return written
        written += len(chunk)
        if not begun:
            begun = True
            if started is not None:
                await started()
    if not kept:
        raise NobodyKept
    final = {
        "written_at": utcnow(),
        "recipient_count": len(existing) + written,
        "left_out_count": left_out_before + left_out,
    }
    await commit([], final)
    return written


def _rows(
    vault: Vault,
    renderer: Renderer,
    service: Service,
    broadcast_id: uuid.UUID,
    content: Content,
    chunk: Sequence[tuple[Kept, uuid.UUID, str]],
    people: Sequence[uuid.UUID | None],
    key_type: KeyType,
    api_key_id: uuid.UUID | None,
    created_by: uuid.UUID | None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for ((r, rendered), nid, index), person in zip(chunk, people, strict=True):
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
            person_id=r.person_id or person,
            case_id=r.case_id,
            created_by_staff_id=created_by,
            one_click_unsubscribe=True,
            automatic=True,
            rendered=rendered,
            index=index,
            notification_id=nid,
        )
        prepared.row["broadcast_id"] = broadcast_id
        rows.append(prepared.row)
    return rows


async def _existing(engine: AsyncEngine, broadcast_id: uuid.UUID) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        return set((await conn.scalars(select(Notification.id).where(Notification.broadcast_id == broadcast_id))).all())


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
    conn: AsyncConnection, service_id: uuid.UUID, chunk: Sequence[tuple[Kept, uuid.UUID, str]]
) -> list[uuid.UUID | None]:
    """For each recipient without a person, the person whose active contact point it is (else None)."""
    pairs = [None if r.person_id is not None else (CHANNEL_KIND[r.channel], index) for (r, _), _, index in chunk]
    wanted = {p for p in pairs if p}
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
    return [found.get(pair) if pair else None for pair in pairs]
