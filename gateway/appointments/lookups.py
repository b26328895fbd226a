"""What an appointment may name in one service, loaded once: cases, people, staff and the zones.

The API loads it for one appointment (`references=[...]`), the import for the whole service, so
thousands of rows are resolved without a query each. People the service may not see (victims, in
an offender-facing service: `gateway.directory.visibility`) are left out, so naming one answers
exactly as naming nobody.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, CaseParticipant, Person, Service, StaffUser
from gateway.directory.visibility import hidden_people
from gateway.domain import ParticipantRole
from gateway.localtime import DEFAULT_ZONE


@dataclass(slots=True)
class CaseInfo:
    id: uuid.UUID
    reference: str
    status: str
    officer_id: uuid.UUID | None
    client_id: uuid.UUID | None = None
    participants: set[uuid.UUID] = field(default_factory=set)


@dataclass(slots=True)
class PersonInfo:
    id: uuid.UUID
    external_id: str | None
    name: str
    time_zone: str | None


@dataclass
class Lookups:
    service_zone: str
    cases: dict[str, CaseInfo]  # by reference
    people: dict[uuid.UUID, PersonInfo]  # visible people, by id
    by_external_id: dict[str, uuid.UUID]
    staff: dict[str, uuid.UUID]  # active staff, by lower-cased email
    staff_emails: dict[uuid.UUID, str]

    def person_zone(self, person_id: uuid.UUID) -> str:
        """The person's zone, else the service's."""
        found = self.people.get(person_id)
        return (found.time_zone if found else None) or self.service_zone


async def load_lookups(
    db: AsyncSession,
    service_id: uuid.UUID,
    *,
    references: Sequence[str] | None = None,
    external_ids: Sequence[str] | None = None,
) -> Lookups:
    """Everything appointments of the service may name (or only the cases `references` and the people
    taking part in them or named by `external_ids`, for one appointment)."""
    zone = await db.scalar(select(Service.timezone).where(Service.id == service_id))
    hidden = await hidden_people(db, service_id)
    stmt = select(Case.id, Case.external_ref, Case.status, Case.assigned_staff_id).where(Case.service_id == service_id)
    if references is not None:
        stmt = stmt.where(Case.external_ref.in_(list(references)))
    cases = {ref: CaseInfo(cid, ref, status, officer) for cid, ref, status, officer in await db.execute(stmt)}
    by_id = {c.id: c for c in cases.values()}
    parts = (
        select(CaseParticipant.case_id, CaseParticipant.person_id, CaseParticipant.role)
        .join(Case, Case.id == CaseParticipant.case_id)
        .where(Case.service_id == service_id)
        .order_by(CaseParticipant.id)
    )
    if references is not None:
        parts = parts.where(Case.external_ref.in_(list(references)))
    person_ids: set[uuid.UUID] = set()
    for case_id, person_id, role in await db.execute(parts):
        info = by_id.get(case_id)
        if info is None or person_id in hidden:
            continue
        info.participants.add(person_id)
        person_ids.add(person_id)
        if role == ParticipantRole.CLIENT.value and info.client_id is None:
            info.client_id = person_id
    people_stmt = select(Person.id, Person.external_id, Person.display_name, Person.timezone).where(
        Person.service_id == service_id
    )
    if references is not None:
        wanted = Person.id.in_(person_ids) if person_ids else None
        named = Person.external_id.in_(list(external_ids)) if external_ids else None
        conditions = [c for c in (wanted, named) if c is not None]
        if not conditions:
            people_stmt = people_stmt.where(Person.id.is_(None))
        else:
            people_stmt = people_stmt.where(conditions[0] if len(conditions) == 1 else conditions[0] | conditions[1])
    people = {
        pid: PersonInfo(pid, ext, name, tz) for pid, ext, name, tz in await db.execute(people_stmt) if pid not in hidden
    }
    staff_rows = await db.execute(
        select(StaffUser.id, func.lower(StaffUser.email), StaffUser.active).where(StaffUser.service_id == service_id)
    )
    staff, emails = {}, {}
    for sid, email, active in staff_rows:
        emails[sid] = email
        if active:
            staff[email] = sid
    return Lookups(
        zone or DEFAULT_ZONE,
        cases,
        people,
        {p.external_id: p.id for p in people.values() if p.external_id},
        staff,
        emails,
    )
