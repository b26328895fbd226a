"""Merging two people found to be one (a duplicate import): everything of the duplicate moves to the survivor.

The rule, in one place:

* Both people are of the same service, differ, and neither has been merged already; the caller
  (the page) has checked the role (supervisors and admins) and the victim rules.
* Moved to the survivor, in one transaction: notifications and inbound messages, the conversation
  (joined to the survivor's if they have one: messages, unread count and last message go along),
  contact points (one the survivor already has is moved and retired as "merged", so nothing is
  lost and nothing is doubled), case participations (one the survivor already has is dropped),
  open questions and the consent ledger's person links. Consent the agency recorded for a
  channel the survivor has none for is kept.
* The duplicate is marked `merged_into_id` and retired; it keeps its name and external id, so
  history still reads.
* A MERGE entry naming both goes on the record of every case either of them was on (their
  timelines), with the ids and counts in its data (never contact values).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.conversations.reads import forget_reads
from gateway.db import (
    CaseParticipant,
    ConsentEvent,
    ContactPoint,
    Conversation,
    InboundMessage,
    Notification,
    OpenQuestion,
    Person,
)
from gateway.db.base import utcnow
from gateway.domain import RecordKind
from gateway.record import append_in_session

MAX_ATTEMPTS = 10
MERGED = "merged"


class MergeError(ValueError):
    """A merge that may not happen; the message says why, in words for the page."""


@dataclass(frozen=True, slots=True)
class MergeReport:
    """What moved from the duplicate to the survivor."""

    survivor_id: uuid.UUID
    duplicate_id: uuid.UUID
    moved: dict[str, int] = field(default_factory=dict)
    case_ids: tuple[uuid.UUID, ...] = ()


def person_key(person_id: uuid.UUID) -> str:
    """How a person's conversation is keyed (the same as the handler chain's)."""
    return f"person:{person_id}"


async def merge_people(
    sessions: async_sessionmaker[AsyncSession],
    service_id: uuid.UUID,
    survivor_id: uuid.UUID,
    duplicate_id: uuid.UUID,
    actor: str,
) -> MergeReport:
    """Move everything of `duplicate_id` to `survivor_id` and retire the duplicate; see the module's rule."""
    if survivor_id == duplicate_id:
        raise MergeError("Choose two different people: a person cannot be merged into themselves.")
    for attempt in range(MAX_ATTEMPTS):
        async with sessions() as db:
            try:
                report = await _merge(db, service_id, survivor_id, duplicate_id, actor)
                await db.commit()
                return report
            except IntegrityError:  # another writer took a record seq: run the whole merge again
                await db.rollback()
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


async def _person(db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID) -> Person:
    person = await db.scalar(select(Person).where(Person.id == person_id, Person.service_id == service_id))
    if person is None:
        raise MergeError("That person is not in this service.")
    if person.merged_into_id is not None:
        raise MergeError(f"{person.display_name} has already been merged into someone else.")
    return person


async def _merge(
    db: AsyncSession, service_id: uuid.UUID, survivor_id: uuid.UUID, duplicate_id: uuid.UUID, actor: str
) -> MergeReport:
    survivor = await _person(db, service_id, survivor_id)
    duplicate = await _person(db, service_id, duplicate_id)
    sid, dup, keep = service_id, duplicate.id, survivor.id
    case_ids = tuple(
        (
            await db.scalars(
                select(CaseParticipant.case_id).where(CaseParticipant.person_id.in_([dup, keep])).distinct()
            )
        ).all()
    )
    moved: dict[str, int] = {}

    async def move(name: str, table: type[Notification | InboundMessage | OpenQuestion | ConsentEvent]) -> None:
        result = await db.execute(
            update(table)
            .where(table.service_id == sid, table.person_id == dup)
            .values(person_id=keep)
            .execution_options(synchronize_session=False)
        )
        moved[name] = int(result.rowcount or 0)  # type: ignore[attr-defined]

    await move("notifications", Notification)
    await move("inbound_messages", InboundMessage)
    await move("open_questions", OpenQuestion)
    await move("consent_events", ConsentEvent)
    moved["conversations"] = await _move_conversation(db, sid, dup, keep)
    moved["contact_points"] = await _move_contact_points(db, sid, dup, keep)
    moved["cases"] = await _move_participations(db, dup, keep)

    for channel, recorded in (duplicate.consent or {}).items():
        if channel not in (survivor.consent or {}):
            survivor.consent = {**(survivor.consent or {}), channel: recorded}
    now = utcnow()
    survivor.updated_at = now
    duplicate.merged_into_id, duplicate.retired_at, duplicate.updated_at = keep, now, now
    await db.flush()

    summary = (
        f"{duplicate.display_name} and {survivor.display_name} are one person: merged into {survivor.display_name}"
    )
    data = {"survivor_id": str(keep), "duplicate_id": str(dup), "moved": moved}
    for case_id in case_ids:
        await append_in_session(db, case_id, RecordKind.MERGE, actor, summary, data)
    return MergeReport(keep, dup, moved, case_ids)


async def _move_conversation(db: AsyncSession, sid: uuid.UUID, dup: uuid.UUID, keep: uuid.UUID) -> int:
    """The duplicate's conversation becomes the survivor's, or joins theirs; returns 1 if there was one."""
    theirs = await db.scalar(
        select(Conversation).where(Conversation.service_id == sid, Conversation.key == person_key(dup))
    )
    if theirs is None:
        return 0
    ours = await db.scalar(
        select(Conversation).where(Conversation.service_id == sid, Conversation.key == person_key(keep))
    )
    if ours is None:
        theirs.key, theirs.person_id = person_key(keep), keep
        return 1
    await db.execute(
        update(InboundMessage)
        .where(InboundMessage.service_id == sid, InboundMessage.conversation_id == theirs.id)
        .values(conversation_id=ours.id)
        .execution_options(synchronize_session=False)
    )
    ours.unread_count += theirs.unread_count
    if theirs.last_message_at is not None and (
        ours.last_message_at is None or theirs.last_message_at > ours.last_message_at
    ):
        ours.last_message_at, ours.last_inbound_id = theirs.last_message_at, theirs.last_inbound_id
    ours.case_id = ours.case_id or theirs.case_id
    if ours.assigned_staff_id is None and theirs.assigned_staff_id is not None:
        ours.assigned_staff_id, ours.state = theirs.assigned_staff_id, "claimed"
    await db.flush()
    await forget_reads(db, theirs.id)
    await db.delete(theirs)
    return 1


async def _move_contact_points(db: AsyncSession, sid: uuid.UUID, dup: uuid.UUID, keep: uuid.UUID) -> int:
    """All of them move; one the survivor already has (same kind and index) is retired as a merged copy."""
    held = set(
        (
            await db.execute(
                select(ContactPoint.kind, ContactPoint.value_index).where(
                    ContactPoint.service_id == sid, ContactPoint.person_id == keep, ContactPoint.retired_at.is_(None)
                )
            )
        ).all()
    )
    points = (
        await db.scalars(select(ContactPoint).where(ContactPoint.service_id == sid, ContactPoint.person_id == dup))
    ).all()
    now = utcnow()
    for point in points:
        point.person_id = keep
        if (point.kind, point.value_index) in held and point.retired_at is None:
            point.retired_at, point.retired_reason = now, MERGED
    return len(points)


async def _move_participations(db: AsyncSession, dup: uuid.UUID, keep: uuid.UUID) -> int:
    """Case participations move; one the survivor already has (same case and role) is dropped."""
    rows = (
        await db.execute(select(CaseParticipant.case_id, CaseParticipant.role).where(CaseParticipant.person_id == dup))
    ).all()
    for case_id, role in rows:
        same = await db.scalar(
            select(func.count())
            .select_from(CaseParticipant)
            .where(CaseParticipant.case_id == case_id, CaseParticipant.person_id == keep, CaseParticipant.role == role)
        )
        if same:
            await db.execute(
                delete(CaseParticipant).where(
                    CaseParticipant.case_id == case_id, CaseParticipant.person_id == dup, CaseParticipant.role == role
                )
            )
    await db.execute(update(CaseParticipant).where(CaseParticipant.person_id == dup).values(person_id=keep))
    return len(rows)
