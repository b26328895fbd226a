"""Reading one person for the staff pages: who they are, their cases, their contact points and consent.

* `visible_person` — the one rule for opening a person's page or acting on them: of the signed-in
  staff member's service (404 otherwise), and a victim only for roles `can_see_victim_data`
  allows (404 otherwise, so in an offender-facing service a victim is never found). Every view
  is audited (`view.person`, or `view.victim_person`).
* `contact_rows` — contact points, current first, each with its consent state: an opt-out from
  the consent ledger (`OptOut`, by blind index) and whether it is retired (a changed number).
* `person_cases` — the cases they take part in, with the case handler's name.

Contact values are opened here only for the page; they never go into logs or audit rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, OptOut, Person, StaffUser
from gateway.domain import Channel, ContactKind
from gateway.victim_access import victim_people
from gateway.web import audit
from gateway.web.access import can_see_victim_data, not_found
from gateway.web.context import StaffContext

CHANNEL_OF = {ContactKind.PHONE.value: Channel.SMS.value, ContactKind.EMAIL.value: Channel.EMAIL.value}
KIND_LABELS = {"phone": "Mobile", "email": "Email", "address": "Postal address"}


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: uuid.UUID
    kind: str
    value: str
    label: str | None
    retired_at: datetime | None
    retired_reason: str | None
    opted_out: bool
    opt_out_source: str | None

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind.capitalize())


@dataclass(frozen=True, slots=True)
class PersonCase:
    reference: str
    role: str
    status: str
    program: str | None
    handler: str | None


async def is_victim(db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    found = await db.scalar(victim_people(service_id).where(CaseParticipant.person_id == person_id).limit(1))
    return found is not None


async def visible_person(
    db: AsyncSession, request: web.Request, staff: StaffContext, person_id: uuid.UUID, *, view: bool = True
) -> Person:
    """The person if this staff member may see them (404 otherwise); with `view`, the view is audited."""
    person = await db.scalar(select(Person).where(Person.id == person_id, Person.service_id == staff.service_id))
    if person is None:
        raise not_found()
    victim = await is_victim(db, staff.service_id, person.id)
    if victim and not can_see_victim_data(staff, staff.service):
        raise not_found()
    if view:
        audit.by_staff(db, request, staff, "view.victim_person" if victim else "view.person", target=str(person.id))
    return person


async def contact_rows(db: AsyncSession, vault: Vault, person: Person) -> list[ContactRow]:
    points = (
        await db.scalars(
            select(ContactPoint)
            .where(ContactPoint.service_id == person.service_id, ContactPoint.person_id == person.id)
            .order_by(ContactPoint.retired_at.is_not(None), ContactPoint.created_at.desc())
        )
    ).all()
    opted: dict[tuple[str, str], str] = {}
    indexes = [p.value_index for p in points]
    if indexes:
        for row in (
            await db.scalars(
                select(OptOut).where(
                    OptOut.service_id == person.service_id,
                    OptOut.address_index.in_(indexes),
                    OptOut.opted_out.is_(True),
                )
            )
        ).all():
            opted[(row.channel, row.address_index)] = row.source
    rows = []
    for p in points:
        source = opted.get((CHANNEL_OF.get(p.kind, ""), p.value_index))
        rows.append(
            ContactRow(
                p.id,
                p.kind,
                vault.open(p.value_enc),
                p.label,
                p.retired_at,
                p.retired_reason,
                source is not None,
                source,
            )
        )
    return rows


async def person_cases(db: AsyncSession, person: Person) -> list[PersonCase]:
    rows = await db.execute(
        select(Case, CaseParticipant.role, StaffUser.name)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .outerjoin(StaffUser, StaffUser.id == Case.assigned_staff_id)
        .where(Case.service_id == person.service_id, CaseParticipant.person_id == person.id)
        .order_by(Case.status.desc(), Case.external_ref)
    )
    return [PersonCase(case.external_ref, role, case.status, case.program, name) for case, role, name in rows]


async def conversation_of(db: AsyncSession, person: Person) -> Conversation | None:
    return await db.scalar(
        select(Conversation).where(
            Conversation.service_id == person.service_id, Conversation.key == f"person:{person.id}"
        )
    )
