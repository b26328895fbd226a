"""Finding appointments in one service: the API's filtered list, a case's, an officer's day or week,
and a person's next one. Every query is limited to the service; people the service may not see
(victims, outside victim services) are left out by the callers that list (`visible`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments.fields import STATUSES
from gateway.db import Appointment, Case, StaffUser
from gateway.directory.fields import FieldErrors
from gateway.localtime import day_start

FINISHED_VALUES = ("attended", "missed", "cancelled")


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open range of start times [since, until)."""

    since: datetime | None = None
    until: datetime | None = None


def parse_bound(raw: str, field: str, zone_name: str, *, end: bool) -> datetime:
    """A filter bound: a date (the start of that day on the service's clock; `end`: the start of the next
    day, so `to=2026-03-09` includes the 9th) or an ISO 8601 time with an offset."""
    text = raw.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return day_start(day + timedelta(days=1) if end else day, zone_name)
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FieldErrors(
            {field: f"{raw!r} is not a date such as 2026-03-09 or a time such as 2026-03-09T10:30Z"}
        ) from None
    if when.tzinfo is None:
        raise FieldErrors({field: f"{raw!r} needs an offset, such as 2026-03-09T10:30-05:00, or give a date"})
    return when


async def appointment_filter(
    db: AsyncSession,
    service_id: uuid.UUID,
    zone_name: str,
    *,
    case_reference: str | None = None,
    officer: str | None = None,
    since: str | None = None,
    until: str | None = None,
    status: str | None = None,
) -> Select[Any]:
    """The service's appointments matching every filter given; FieldErrors for filters that cannot match."""
    stmt = select(Appointment).where(Appointment.service_id == service_id)
    errors: dict[str, str] = {}
    if case_reference is not None:
        case_id = await db.scalar(
            select(Case.id).where(Case.service_id == service_id, Case.external_ref == case_reference)
        )
        if case_id is None:
            errors["case_reference"] = f"no case with reference {case_reference!r} in this service"
        stmt = stmt.where(Appointment.case_id == case_id)
    if officer is not None:
        email = func.lower(StaffUser.email) == officer.lower()
        staff_id = await db.scalar(select(StaffUser.id).where(StaffUser.service_id == service_id, email))
        if staff_id is None:
            errors["officer"] = f"no member of staff with email {officer!r} in this service"
        stmt = stmt.where(Appointment.staff_id == staff_id)
    for name, raw, is_end in (("from", since, False), ("to", until, True)):
        if raw is None:
            continue
        try:
            bound = parse_bound(raw, name, zone_name, end=is_end)
        except FieldErrors as exc:
            errors.update(exc.errors)
            continue
        stmt = stmt.where(Appointment.starts_at < bound if is_end else Appointment.starts_at >= bound)
    if status is not None:
        if status not in STATUSES:
            errors["status"] = f"{status!r} is not one of {', '.join(STATUSES)}"
        stmt = stmt.where(Appointment.status == status)
    if errors:
        raise FieldErrors(errors)
    return stmt


def upcoming_first(now: datetime) -> Any:
    """Order: appointments still to come (soonest first), then past ones (latest first)."""
    later = Appointment.starts_at >= now
    return (case((later, 0), else_=1), case((later, Appointment.starts_at), else_=None), Appointment.starts_at.desc())


async def for_person(
    db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID, now: datetime, limit: int = 100
) -> list[Appointment]:
    """A person's appointments in the service: upcoming first (soonest first), then past (latest first)."""
    stmt = (
        select(Appointment)
        .where(Appointment.service_id == service_id, Appointment.person_id == person_id)
        .order_by(*upcoming_first(now))
        .limit(limit)
    )
    return list((await db.scalars(stmt)).all())


async def for_staff(
    db: AsyncSession, service_id: uuid.UUID, staff_id: uuid.UUID, window: Window, limit: int = 500
) -> list[Appointment]:
    """A member of staff's appointments starting in the window, in time order."""
    stmt = select(Appointment).where(Appointment.service_id == service_id, Appointment.staff_id == staff_id)
    if window.since is not None:
        stmt = stmt.where(Appointment.starts_at >= window.since)
    if window.until is not None:
        stmt = stmt.where(Appointment.starts_at < window.until)
    return list((await db.scalars(stmt.order_by(Appointment.starts_at).limit(limit))).all())


async def next_for_person(
    db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID, now: datetime, case_id: uuid.UUID | None = None
) -> Appointment | None:
    """The person's next appointment that has not started and is still on (not cancelled or finished)."""
    stmt = select(Appointment).where(
        Appointment.service_id == service_id,
        Appointment.person_id == person_id,
        Appointment.starts_at >= now,
        Appointment.status.not_in(FINISHED_VALUES),
    )
    if case_id is not None:
        stmt = stmt.where(Appointment.case_id == case_id)
    found: Appointment | None = await db.scalar(stmt.order_by(Appointment.starts_at).limit(1))
    return found
