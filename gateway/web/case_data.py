"""Reading and changing one case for the staff pages, always inside the signed-in staff member's service.

* `find_case` — by external reference within a service; another service's reference is `None`
  (the page answers 404, the same as a reference that does not exist).
* `participants` — who takes part and in what role, with contact points opened only when the
  caller says the viewer may see them (victim data rules live in `gateway.web.access`).
* `timeline` — the case record, newest first, filtered by kind and date range; for staff not
  allowed victim data, without the entries about victims (`about_victims`), on the page and in
  its exports alike.
* `transfer` — a new case handler: the case, its conversations and an ASSIGNMENT entry in one
  transaction (the rule is `gateway.directory.reassign`, shared with the caseload page).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement, Select, and_, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import (
    Case,
    CaseParticipant,
    ContactPoint,
    InboundMessage,
    Notification,
    Person,
    RecordEntry,
    StaffUser,
)
from gateway.directory.reassign import reassign_cases
from gateway.domain import ParticipantRole, RecordKind
from gateway.localtime import DEFAULT_ZONE, day_start
from gateway.record import append_in_session
from gateway.victim_access import victim_people

MAX_ENTRIES = 500
MAX_ATTEMPTS = 10
CASE_HANDLER_ROLES = ("officer", "supervisor", "victim_advocate")


@dataclass(frozen=True)
class Participant:
    person_id: uuid.UUID
    role: str
    name: str | None  # None when the viewer may not see it
    contacts: tuple[tuple[str, str], ...]  # (kind, value)


@dataclass(frozen=True)
class TimelineFilter:
    kind: str | None = None
    since: date | None = None
    until: date | None = None
    timezone: str = DEFAULT_ZONE
    hide_victims: bool = False  # the viewer may not see victim data (gateway.victim_access)


async def about_victims(db: AsyncSession, service_id: uuid.UUID) -> ColumnElement[bool] | None:
    """A condition true for the record entries about a victim of the service (None: it has none).

    Offender-facing staff must see nothing that reveals a victim's activity: a message from or to a
    victim (the entry's inbound message or notification belongs to a victim), or a change naming
    one (`data.person_id`: a link, a consent change). The rule is read, not stored, so entries
    written before it are covered too.
    """
    victims = set((await db.scalars(victim_people(service_id))).all())
    if not victims:
        return None
    ids = victim_people(service_id)
    named = RecordEntry.data["person_id"].as_string()
    # Each term is false, never NULL, for an entry without that column: NOT(NULL) would hide it too.
    return or_(
        and_(
            RecordEntry.inbound_id.is_not(None),
            RecordEntry.inbound_id.in_(
                select(InboundMessage.id).where(
                    InboundMessage.service_id == service_id, InboundMessage.person_id.in_(ids)
                )
            ),
        ),
        and_(
            RecordEntry.notification_id.is_not(None),
            RecordEntry.notification_id.in_(
                select(Notification.id).where(Notification.service_id == service_id, Notification.person_id.in_(ids))
            ),
        ),
        and_(named.is_not(None), named.in_(sorted(str(v) for v in victims))),
    )


async def visible_entries(
    db: AsyncSession, service_id: uuid.UUID, query: Select[RecordEntry], hide_victims: bool
) -> Select[RecordEntry]:
    """`query` over record entries, without those about victims when `hide_victims`."""
    if not hide_victims:
        return query
    condition = await about_victims(db, service_id)
    return query if condition is None else query.where(not_(condition))


async def find_case(db: AsyncSession, service_id: uuid.UUID, ref: str) -> Case | None:
    return await db.scalar(select(Case).where(Case.service_id == service_id, Case.external_ref == ref))


async def list_cases(db: AsyncSession, service_id: uuid.UUID, search: str, limit: int = 200) -> list[Case]:
    query = select(Case).where(Case.service_id == service_id)
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Case.external_ref.ilike(f"%{escaped}%", escape="\\"))
    return list((await db.scalars(query.order_by(Case.external_ref).limit(limit))).all())


async def case_handlers(db: AsyncSession, service_id: uuid.UUID) -> list[StaffUser]:
    """Active staff of the service who can hold a case."""
    rows = (
        await db.scalars(
            select(StaffUser)
            .where(StaffUser.service_id == service_id, StaffUser.active.is_(True))
            .order_by(StaffUser.name)
        )
    ).all()
    return [u for u in rows if any(role in CASE_HANDLER_ROLES for role in u.roles)]


async def staff_names(db: AsyncSession, service_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Every member of staff of the service by id, active or not (a record names who a case was with)."""
    rows = await db.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.service_id == service_id))
    return {row.id: row.name for row in rows}


async def has_victims(db: AsyncSession, case_id: uuid.UUID) -> bool:
    """Whether a victim takes part in the case: then only staff allowed victim data may hold it."""
    found = await db.scalar(
        select(CaseParticipant.id)
        .where(CaseParticipant.case_id == case_id, CaseParticipant.role == ParticipantRole.VICTIM.value)
        .limit(1)
    )
    return found is not None


async def participants(db: AsyncSession, vault: Vault, case_id: uuid.UUID, *, show_victims: bool) -> list[Participant]:
    rows = (
        await db.execute(
            select(CaseParticipant.role, Person)
            .join(Person, Person.id == CaseParticipant.person_id)
            .where(CaseParticipant.case_id == case_id)
            .order_by(CaseParticipant.id)
        )
    ).all()
    result = []
    for role, person in rows:
        if role == "victim" and not show_victims:
            result.append(Participant(person.id, role, None, ()))
            continue
        points = (
            await db.scalars(
                select(ContactPoint).where(ContactPoint.person_id == person.id).order_by(ContactPoint.created_at)
            )
        ).all()
        contacts = tuple((p.kind, vault.open(p.value_enc)) for p in points)
        result.append(Participant(person.id, role, person.display_name, contacts))
    return result


async def filtered_entries(db: AsyncSession, case: Case, where: TimelineFilter) -> Select[RecordEntry]:
    """The case's entries this viewer may see that match the filter (the page and its exports alike)."""
    query = await visible_entries(
        db, case.service_id, select(RecordEntry).where(RecordEntry.case_id == case.id), where.hide_victims
    )
    if where.kind:
        query = query.where(RecordEntry.kind == where.kind)
    if where.since:  # whole days on the service's wall clock
        query = query.where(RecordEntry.at >= day_start(where.since, where.timezone))
    if where.until:
        query = query.where(RecordEntry.at < day_start(where.until + timedelta(days=1), where.timezone))
    return query


async def timeline(db: AsyncSession, case: Case, where: TimelineFilter) -> list[RecordEntry]:
    query = await filtered_entries(db, case, where)
    return list((await db.scalars(query.order_by(RecordEntry.seq.desc()).limit(MAX_ENTRIES))).all())


async def client_of(db: AsyncSession, case_id: uuid.UUID) -> uuid.UUID | None:
    """The case's client: the person its record is about, named in exports."""
    return await db.scalar(
        select(CaseParticipant.person_id)
        .where(
            CaseParticipant.case_id == case_id,
            CaseParticipant.role == ParticipantRole.CLIENT.value,
        )
        .order_by(CaseParticipant.id)
        .limit(1)
    )


async def transfer(
    sessions: async_sessionmaker[AsyncSession],
    case: Case,
    to: StaffUser,
    actor: str,
    names: dict[uuid.UUID, str],
    *,
    reason: str | None = None,
) -> tuple[int, int]:
    """Assign `case` to `to` with its conversations (`gateway.directory.reassign`); (record seq, conversations)."""
    moved = await reassign_cases(sessions, case.service_id, [case.id], to, actor, reason=reason, names=names)
    return (moved[0].seq, moved[0].conversations) if moved else (0, 0)


async def add_note(sessions: async_sessionmaker[AsyncSession], case_id: uuid.UUID, actor: str, text: str) -> int:
    for attempt in range(MAX_ATTEMPTS):
        async with sessions() as db:
            try:
                seq = await append_in_session(db, case_id, RecordKind.NOTE, actor, text)
                await db.commit()
                return seq
            except IntegrityError:
                await db.rollback()
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")
