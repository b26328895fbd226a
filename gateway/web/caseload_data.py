"""Reading a caseload for the staff pages: the clients of one member of staff's cases, with their activity.

One row per client of a case assigned to the officer: name, case reference, status, program and
tags, the last contact either way (the newest message received or sent), the unread count of
their conversation and their open items (questions sent that are waiting for an answer).

Searchable by name, by case reference (ignoring case) or by phone number (normalised, then found
by blind index, never by pattern matching on sealed values); filterable by status, program and
tag. Always inside the signed-in staff member's service; victim participants are listed only for
roles `can_see_victim_data` allows (never in an offender-facing service).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.conversations.reads import unread_for
from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Conversation, Notification, OpenQuestion, Person
from gateway.domain import ParticipantRole
from gateway.recipients import InvalidRecipient, normalise_phone
from gateway.web.conversation_data import aware

MAX_ROWS = 500
STATUSES = ("open", "closed", "all")


@dataclass(frozen=True, slots=True)
class CaseloadFilter:
    """What the caseload page asks for; empty strings mean "any"."""

    officer_id: uuid.UUID
    status: str = "open"
    program: str = ""
    tag: str = ""
    search: str = ""


@dataclass(frozen=True, slots=True)
class CaseloadRow:
    person_id: uuid.UUID
    name: str
    role: str
    case_id: uuid.UUID
    reference: str
    status: str
    program: str | None
    tags: tuple[str, ...]
    last_contact: datetime | None
    unread: int
    open_items: int
    conversation_id: uuid.UUID | None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(service_id: uuid.UUID, vault: Vault, region: str, text: str) -> Any:
    """Name (part of it), case reference (part of it, any case) or phone number (whole, by blind index)."""
    pattern = f"%{_escape(text)}%"
    conditions: list[Any] = [
        Person.display_name.ilike(pattern, escape="\\"),
        func.lower(Case.external_ref).like(pattern.lower(), escape="\\"),
    ]
    try:
        index = vault.blind_index(normalise_phone(text, region))
    except InvalidRecipient:
        index = None
    if index is not None:  # a changed (retired) number still finds its person
        conditions.append(
            Person.id.in_(
                select(ContactPoint.person_id).where(
                    ContactPoint.service_id == service_id, ContactPoint.value_index == index
                )
            )
        )
    return or_(*conditions)


async def caseload(
    db: AsyncSession, vault: Vault, service_id: uuid.UUID, where: CaseloadFilter, *, region: str, show_victims: bool
) -> list[CaseloadRow]:
    """The rows for `where`, the clients with unread messages first, then by name."""
    roles = [ParticipantRole.CLIENT.value] + ([ParticipantRole.VICTIM.value] if show_victims else [])
    stmt = (
        select(Case, CaseParticipant.role, Person)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .join(Person, Person.id == CaseParticipant.person_id)
        .where(
            Case.service_id == service_id,
            Person.service_id == service_id,
            Case.assigned_staff_id == where.officer_id,
            CaseParticipant.role.in_(roles),
            Person.merged_into_id.is_(None),
        )
    )
    if where.status in ("open", "closed"):
        stmt = stmt.where(Case.status == where.status)
    if where.program:
        stmt = stmt.where(Case.program == where.program)
    if where.search:
        stmt = stmt.where(_search(service_id, vault, region, where.search))
    found = [
        (case, role, person)
        for case, role, person in (await db.execute(stmt.limit(MAX_ROWS))).all()
        if not where.tag or where.tag in (case.tags or [])  # tags are a JSON list: filtered here, on both databases
    ]
    people = list({person.id for _, _, person in found})
    # unread as the caseload's officer has it (their own read state, gateway.conversations.reads)
    conversations = await _conversations(db, service_id, people, where.officer_id)
    last_sent = await _last_sent(db, service_id, people)
    open_items = await _open_items(db, service_id, people)
    rows = []
    for case, role, person in found:
        conversation = conversations.get(person.id)
        times = [t for t in (conversation[2] if conversation else None, last_sent.get(person.id)) if t is not None]
        rows.append(
            CaseloadRow(
                person_id=person.id,
                name=person.display_name,
                role=role,
                case_id=case.id,
                reference=case.external_ref,
                status=case.status,
                program=case.program,
                tags=tuple(case.tags or ()),
                last_contact=max(aware(t) for t in times) if times else None,
                unread=conversation[1] if conversation else 0,
                open_items=open_items.get(person.id, 0),
                conversation_id=conversation[0] if conversation else None,
            )
        )
    return sorted(rows, key=lambda r: (r.unread == 0, r.name.lower(), r.reference))


async def _conversations(
    db: AsyncSession, service_id: uuid.UUID, people: list[uuid.UUID], reader: uuid.UUID
) -> dict[uuid.UUID, tuple[uuid.UUID, int, datetime | None]]:
    if not people:
        return {}
    rows = await db.execute(
        select(
            Conversation.person_id, Conversation.id, unread_for(reader).label("unread"), Conversation.last_message_at
        ).where(Conversation.service_id == service_id, Conversation.person_id.in_(people))
    )
    return {row.person_id: (row.id, row.unread, row.last_message_at) for row in rows}


async def _last_sent(db: AsyncSession, service_id: uuid.UUID, people: list[uuid.UUID]) -> dict[uuid.UUID, datetime]:
    if not people:
        return {}
    rows = await db.execute(
        select(Notification.person_id, func.max(Notification.created_at))
        .where(Notification.service_id == service_id, Notification.person_id.in_(people))
        .group_by(Notification.person_id)
    )
    return {person_id: at for person_id, at in rows if person_id is not None and at is not None}


async def _open_items(db: AsyncSession, service_id: uuid.UUID, people: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not people:
        return {}
    rows = await db.execute(
        select(OpenQuestion.person_id, func.count())
        .where(OpenQuestion.service_id == service_id, OpenQuestion.person_id.in_(people), OpenQuestion.state == "open")
        .group_by(OpenQuestion.person_id)
    )
    return {person_id: int(count) for person_id, count in rows}


async def choices(db: AsyncSession, service_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """The programs and tags the service's cases use, for the filter menus."""
    programs = (
        await db.scalars(
            select(Case.program).where(Case.service_id == service_id, Case.program.is_not(None)).distinct()
        )
    ).all()
    tags: set[str] = set()  # a JSON column: no DISTINCT on PostgreSQL's json type, so gathered here
    for case_tags in (await db.scalars(select(Case.tags).where(Case.service_id == service_id))).all():
        tags.update(case_tags or [])
    return sorted(p for p in programs if p), sorted(tags)
