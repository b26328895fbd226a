"""Appointments as the staff pages show them: one `AppointmentRow` each, names instead of ids, the time on
the appointment's own clock, its state in words, and which buttons it offers.

The victim rule (`gateway.victim_access`): an appointment of a person who is a victim participant of
a case of the service is victim data. Staff who may not see victim data never get its row (not
listed, not counted, its pages 404); staff who may see it get it with an audit entry per view
(`view.victim_appointment`), as the case page audits a victim participant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.appointments import FINISHED, AppointmentStatus
from gateway.appointments.queries import upcoming_first
from gateway.appointments.store import Stored
from gateway.appointments.words import KIND_WORDS, LOCATION_WORDS, STATUS_WORDS, when
from gateway.appointments.writes import Written, find_stored
from gateway.db import Appointment, Case, Person, StaffUser
from gateway.jobs.delivery import enqueue_deliveries
from gateway.victim_access import victim_people
from gateway.web.access import audit_view, can_see_victim_data, not_found, parse_id
from gateway.web.context import StaffContext


@dataclass(frozen=True, slots=True)
class AppointmentRow:
    id: uuid.UUID
    kind: str
    title: str | None
    starts_at: datetime
    when: str  # on the appointment's clock, e.g. "Mon 09 Mar 2026 10:30 CDT"
    time: str  # "10:30 CDT"
    status: str
    state: str  # the status in words
    place: str
    bring: str | None
    person_id: uuid.UUID
    person_name: str
    case_ref: str
    staff_name: str | None
    can_mark: bool  # started, and not cancelled: attended / missed may be recorded
    can_change: bool  # still to be (not finished): may be moved, changed or cancelled


async def hidden_victims(db: AsyncSession, staff: StaffContext) -> set[uuid.UUID]:
    """People whose appointments this member of staff may not see (empty when they may see victims)."""
    if can_see_victim_data(staff, staff.service):
        return set()
    return set((await db.scalars(victim_people(staff.service_id))).all())


async def rows_for(
    db: AsyncSession, request: web.Request, staff: StaffContext, appointments: Sequence[Appointment], now: datetime
) -> list[AppointmentRow]:
    """The rows this member of staff may see, auditing each victim's appointment shown."""
    hidden = await hidden_victims(db, staff)
    shown = [a for a in appointments if a.person_id not in hidden]
    if not shown:
        return []
    if can_see_victim_data(staff, staff.service):
        victims = set((await db.scalars(victim_people(staff.service_id))).all())
        for a in shown:
            if a.person_id in victims:
                audit_view(db, request, staff, "victim_appointment", str(a.id))
    people = await _names(db, Person.id, Person.display_name, {a.person_id for a in shown})
    refs = await _names(db, Case.id, Case.external_ref, {a.case_id for a in shown})
    names = await _names(db, StaffUser.id, StaffUser.name, {a.staff_id for a in shown if a.staff_id})
    return [_row(a, people, refs, names, now) for a in shown]


async def _names(db: AsyncSession, key: Any, value: Any, ids: set[Any]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {k: v for k, v in await db.execute(select(key, value).where(key.in_(ids)))}


def _row(
    a: Appointment,
    people: dict[uuid.UUID, str],
    refs: dict[uuid.UUID, str],
    names: dict[uuid.UUID, str],
    now: datetime,
) -> AppointmentRow:
    place = LOCATION_WORDS.get(a.location_kind, a.location_kind)
    if a.location:
        place = a.location if a.location_kind == "address" else f"{place}: {a.location}"
    return AppointmentRow(
        id=a.id,
        kind=KIND_WORDS.get(a.kind, a.kind),
        title=a.title,
        starts_at=a.starts_at,
        when=when(a.starts_at, a.time_zone),
        time=when(a.starts_at, a.time_zone).split(" ", 4)[-1],
        status=a.status,
        state=STATUS_WORDS.get(a.status, a.status),
        place=place,
        bring=a.bring,
        person_id=a.person_id,
        person_name=people.get(a.person_id, "Unknown"),
        case_ref=refs.get(a.case_id, ""),
        staff_name=names.get(a.staff_id) if a.staff_id else None,
        can_mark=a.starts_at <= now and a.status != AppointmentStatus.CANCELLED.value,
        can_change=a.status not in FINISHED,
    )


async def case_appointments(
    db: AsyncSession, request: web.Request, staff: StaffContext, case_id: uuid.UUID
) -> list[AppointmentRow]:
    """The case's appointments for its page: upcoming first (soonest first), then past ones (latest first)."""
    now = request.app[keys.CLOCK].now()
    found = await db.scalars(
        select(Appointment)
        .where(Appointment.service_id == staff.service_id, Appointment.case_id == case_id)
        .order_by(*upcoming_first(now))
        .limit(200)
    )
    return await rows_for(db, request, staff, list(found.all()), now)


async def load_appointment(db: AsyncSession, request: web.Request, staff: StaffContext) -> tuple[Stored, Case]:
    """The appointment in the URL, of this service and visible to this member of staff; else 404."""
    stored = await find_stored(
        db, request.app[keys.VAULT], staff.service_id, appointment_id=parse_id(request.match_info["id"])
    )
    if stored is None or stored.person_id in await hidden_victims(db, staff):
        raise not_found()
    case = await db.get(Case, stored.case_id)
    assert case is not None
    return stored, case


async def deliver(request: web.Request, written: Written) -> None:
    """After the commit: hand what the reminders hook queued to delivery."""
    if written.deliver:
        await enqueue_deliveries(request.app[keys.QUEUE], written.deliver)
