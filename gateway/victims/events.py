"""Offender events: recorded once per (posting service, its event id), then fanned out by a job.

`record_event` is the whole of what the offender-facing side does: it checks the event, writes the
`offender_events` row (or finds the one already written for that event id) and returns it. The
answer the caller gets is the event's id and nothing else; whether any victim follows the case is
decided later, inside the VSU, by `gateway.victims.fanout` (enqueued on the priority lane after the
commit; the sweeper enqueues it again for an event left without `fanned_out_at`).

The same event id sent again with the same content is the same event (201, the first id); with
different content it is refused (409), as Notify treats a reused idempotency key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import OffenderEvent
from gateway.db.base import utcnow
from gateway.victims.kinds import EventInvalid, check_details, is_urgent

FAN_OUT = "victims_fan_out"
MAX_EVENT_ID = 128
MAX_REFERENCE = 100


class EventConflict(ValueError):
    """The event id was used before for a different event."""


def fan_out_job_id(event_id: uuid.UUID | str) -> str:
    return f"victims-fan-out:{event_id}"


def check_event(reference: Any, raw: Mapping[str, Any]) -> tuple[str, str, str, dict[str, Any], bool]:
    """(event id, reference, kind, details, urgent) checked; EventInvalid naming every problem."""
    errors: list[str] = []
    event_id = raw.get("event_id")
    if not isinstance(event_id, str) or not 1 <= len(event_id) <= MAX_EVENT_ID or event_id != event_id.strip():
        errors.append(f"event_id must be 1 to {MAX_EVENT_ID} characters, without spaces at either end")
    if not isinstance(reference, str) or not 1 <= len(reference) <= MAX_REFERENCE or "\x00" in reference:
        errors.append(f"reference must be 1 to {MAX_REFERENCE} characters")
    unknown = sorted(set(raw) - {"event_id", "kind", "details"})
    errors += [f"Additional properties are not allowed ({name} was unexpected)" for name in unknown]
    try:
        kind, details = check_details(raw.get("kind"), raw.get("details"))
    except EventInvalid as exc:
        raise EventInvalid(errors + exc.errors) from None
    if errors:
        raise EventInvalid(errors)
    assert isinstance(event_id, str) and isinstance(reference, str)
    return event_id, reference, kind.name, details, is_urgent(kind, details)


async def record_event(
    session: AsyncSession, service_id: uuid.UUID, reference: str, raw: Mapping[str, Any]
) -> tuple[OffenderEvent, bool]:
    """The event row (new: True) in the caller's transaction; EventInvalid, EventConflict."""
    event_id, reference, kind, details, urgent = check_event(reference, raw)
    found = await session.scalar(
        select(OffenderEvent).where(OffenderEvent.service_id == service_id, OffenderEvent.source_event_id == event_id)
    )
    if found is not None:
        if (found.case_reference, found.kind, found.details) != (reference, kind, details):
            raise EventConflict(f"event_id {event_id} was already used for a different event")
        return found, False
    event = OffenderEvent(
        service_id=service_id,
        source_event_id=event_id,
        case_reference=reference,
        kind=kind,
        details=details,
        urgent=urgent,
        received_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    return event, True
