"""The consent ledger: who has opted out of what, and the history of how they got there.

`OptOut` holds the current state per (service, channel, address blind index, sender) and is what
the delivery path enforces (`gateway.sendtime.policy.is_opted_out`); sender `""` means every sender of the
service. `ConsentEvent` is the append-only history beside it. Both are written in the caller's
transaction, so an opt-out and the inbound message that asked for it commit together or not at all.

An opt-out by keyword (see `gateway.keywords`) covers the whole service: a person texting STOP to
a probation office means "stop texting me", not "stop using this one number". An opt-in clears
every opt-out row of that address in the service.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import ConsentEvent, OptOut
from gateway.db.base import utcnow
from gateway.domain import Channel

ALL_SENDERS = ""


class ConsentAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"


async def record_opt_out(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    channel: Channel,
    address_index: str,
    source: str,
    sender: str = ALL_SENDERS,
    keyword: str | None = None,
    person_id: uuid.UUID | None = None,
    inbound_id: uuid.UUID | None = None,
) -> bool:
    """Opt the address out; returns False when it already was (the history still gets the event)."""
    now = utcnow()
    row = await session.scalar(
        select(OptOut).where(
            OptOut.service_id == service_id,
            OptOut.channel == channel.value,
            OptOut.address_index == address_index,
            OptOut.sender == sender,
        )
    )
    changed = row is None or not row.opted_out
    if row is None:
        session.add(
            OptOut(
                service_id=service_id,
                channel=channel.value,
                address_index=address_index,
                sender=sender,
                opted_out=True,
                source=source,
                updated_at=now,
            )
        )
    elif changed:
        row.opted_out, row.source, row.updated_at = True, source, now
    await _history(
        session,
        ConsentAction.OPT_OUT,
        service_id,
        channel,
        address_index,
        sender,
        keyword,
        source,
        person_id,
        inbound_id,
    )
    return changed


async def record_opt_in(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    channel: Channel,
    address_index: str,
    source: str,
    keyword: str | None = None,
    person_id: uuid.UUID | None = None,
    inbound_id: uuid.UUID | None = None,
) -> bool:
    """Clear every opt-out of the address in this service; returns False when there was none."""
    result = await session.execute(
        update(OptOut)
        .where(
            OptOut.service_id == service_id,
            OptOut.channel == channel.value,
            OptOut.address_index == address_index,
            OptOut.opted_out.is_(True),
        )
        .values(opted_out=False, source=source, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    changed = bool(getattr(result, "rowcount", 0))
    await _history(
        session,
        ConsentAction.OPT_IN,
        service_id,
        channel,
        address_index,
        ALL_SENDERS,
        keyword,
        source,
        person_id,
        inbound_id,
    )
    return changed


async def _history(
    session: AsyncSession,
    action: ConsentAction,
    service_id: uuid.UUID,
    channel: Channel,
    address_index: str,
    sender: str,
    keyword: str | None,
    source: str,
    person_id: uuid.UUID | None,
    inbound_id: uuid.UUID | None,
) -> None:
    """The append-only consent history: one event per opt-out or opt-in request, changed or not."""
    session.add(
        ConsentEvent(
            service_id=service_id,
            channel=channel.value,
            address_index=address_index,
            sender=sender,
            action=action.value,
            keyword=keyword,
            source=source,
            person_id=person_id,
            inbound_id=inbound_id,
        )
    )
    await session.flush()
