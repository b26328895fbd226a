"""Reading conversations for the staff pages: the inbox list, one conversation, and its thread.

Every query is scoped to the signed-in staff member's service; a conversation of another service
is simply not found. Victim conversations (the person is a victim participant of a case, in a
victim-services service) are left out for roles `can_see_victim_data` does not allow.

Phone numbers and message bodies are sealed at rest: they are opened here, only for what a page
shows (the last four digits of an unknown sender and a one-line preview of the last reply in lists;
the whole thread on its own page), and
searched by blind index of the normalised number, never by pattern matching on sealed columns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.conversations.reads import unread_for
from gateway.crypto import Vault
from gateway.db import (
    Case,
    CaseParticipant,
    ContactPoint,
    Conversation,
    InboundMessage,
    Person,
    StaffUser,
)
from gateway.domain import ServiceKind
from gateway.recipients import InvalidRecipient, normalise_phone
from gateway.victim_access import can_see_victim_data, victim_people
from gateway.web.context import StaffContext

TABS = ("mine", "unclaimed", "all")
LIST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class InboxRow:
    """One line of the inbox: who, how many unread, when, and whose."""

    id: uuid.UUID
    name: str
    known: bool
    unread: int
    last_message_at: datetime | None
    state: str
    mine: bool
    victim: bool
    preview: str | None = None  # the last message's first line, cut short (issue 14)
    claimed_by: str | None = None  # the name of the member of staff it is assigned to


PREVIEW_CHARS = 80


def preview_line(body: str | None) -> str | None:
    """One line of a message for a list: its first non-blank line, at most `PREVIEW_CHARS` characters."""
    if not body:
        return None
    line = next((part.strip() for part in body.splitlines() if part.strip()), "")
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1].rstrip() + "…"


def aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC); PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hides_victims(staff: StaffContext) -> bool:
    return staff.service.kind == ServiceKind.VICTIM_SERVICES and not can_see_victim_data(staff, staff.service)


def _search(staff: StaffContext, vault: Vault, region: str, text: str) -> Any:
    """Match by person name, phone (normalised, then blind index) or case reference."""
    sid = staff.service_id
    conditions: list[Any] = [
        Conversation.person_id.in_(
            select(Person.id).where(Person.service_id == sid, Person.display_name.ilike(f"%{_escape(text)}%", "\\"))
        ),
        # a case reference matches whatever its case: "cr-7001" finds CR-7001
        Conversation.case_id.in_(
            select(Case.id).where(Case.service_id == sid, func.lower(Case.external_ref) == text.lower())
        ),
        Conversation.person_id.in_(
            select(CaseParticipant.person_id)
            .join(Case, Case.id == CaseParticipant.case_id)
            .where(Case.service_id == sid, func.lower(Case.external_ref) == text.lower())
        ),
    ]
    try:
        index = vault.blind_index(normalise_phone(text, region))
    except InvalidRecipient:
        index = None
    if index is not None:
        conditions.append(Conversation.sender_index == index)
        conditions.append(
            Conversation.person_id.in_(
                select(ContactPoint.person_id).where(ContactPoint.service_id == sid, ContactPoint.value_index == index)
            )
        )
    return or_(*conditions)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_conversations(
    db: AsyncSession, vault: Vault, staff: StaffContext, *, tab: str, query: str, region: str
) -> list[InboxRow]:
    """The inbox rows for a tab and an optional search, newest first."""
    stmt = (
        select(
            Conversation,
            Person.display_name,
            InboundMessage.sender_enc,
            unread_for(staff.user_id).label("unread"),
            InboundMessage.body_enc,
            StaffUser.name,
        )
        .outerjoin(Person, Person.id == Conversation.person_id)
        .outerjoin(InboundMessage, InboundMessage.id == Conversation.last_inbound_id)
        .outerjoin(StaffUser, StaffUser.id == Conversation.assigned_staff_id)
        .where(Conversation.service_id == staff.service_id)
    )
    if tab == "mine":
        stmt = stmt.where(Conversation.assigned_staff_id == staff.user_id)
    elif tab == "unclaimed":
        stmt = stmt.where(Conversation.state == "unclaimed")
    if query.strip():
        stmt = stmt.where(_search(staff, vault, region, query.strip()))
    victims = set((await db.scalars(victim_people(staff.service_id))).all())
    if hides_victims(staff) and victims:
        stmt = stmt.where(or_(Conversation.person_id.is_(None), Conversation.person_id.not_in(victims)))
    stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id).limit(LIST_LIMIT)
    rows = []
    may_see_victims = not hides_victims(staff)
    for conversation, name, sender_enc, unread, body_enc, claimer in (await db.execute(stmt)).all():
        victim = conversation.person_id in victims
        # A victim's words are shown only to roles allowed victim data (such rows are not even listed
        # for anyone else; this keeps the rule where the text is opened).
        preview = preview_line(vault.open(body_enc)) if body_enc and (may_see_victims or not victim) else None
        rows.append(
            InboxRow(
                id=conversation.id,
                name=name or unknown_sender(vault, sender_enc),
                known=name is not None,
                unread=unread,  # this member of staff's own (gateway.conversations.reads)
                last_message_at=aware(conversation.last_message_at) if conversation.last_message_at else None,
                state=conversation.state,
                mine=conversation.assigned_staff_id == staff.user_id,
                victim=victim,
                preview=preview,
                claimed_by=claimer,
            )
        )
    return rows


def unknown_sender(vault: Vault, sender_enc: str | None) -> str:
    """ "Unknown sender" and the last four digits at most: lists never show a whole number."""
    if not sender_enc:
        return "Unknown sender"
    digits = [c for c in vault.open(sender_enc) if c.isdigit()]
    return f"Unknown sender ending {''.join(digits[-4:])}" if len(digits) >= 4 else "Unknown sender"


async def is_victim_conversation(db: AsyncSession, staff: StaffContext, conversation: Conversation) -> bool:
    if conversation.person_id is None or staff.service.kind != ServiceKind.VICTIM_SERVICES:
        return False
    found = await db.scalar(victim_people(staff.service_id).where(CaseParticipant.person_id == conversation.person_id))
    return found is not None


async def get_conversation(db: AsyncSession, staff: StaffContext, conversation_id: uuid.UUID) -> Conversation | None:
    """The conversation if it is of the staff member's service (victim rules are the caller's)."""
    return await db.scalar(
        select(Conversation).where(Conversation.id == conversation_id, Conversation.service_id == staff.service_id)
    )
