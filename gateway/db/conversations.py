"""Tables for the inbound side: conversations, the consent history, open questions and auto-replies.

* `Conversation` — one per person (or per unknown sender) in a service: the staff inbox row, with
  its assigned staff member, unread count and claimed/unclaimed state.
* `ConsentEvent` — append-only history of every opt-out and opt-in; `OptOut` (in `cases`) is the
  current state the delivery path reads, this is how it got there.
* `OpenQuestion` — a notification that expects a reply with given choices (appointment
  confirmation, victim acknowledgment); the `answers` handler resolves the newest open one.
* `AutoReply` — one row per automatic reply, unique per (service, kind, address, UTC day), so
  "at most one auto-reply per number per day" holds even when two messages race.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class Conversation(Base):
    """The staff inbox row for one person, or for one unknown sender address, in one service.

    `key` is `person:<uuid>` or `sender:<channel>:<blind index>`, unique per service, so the
    same person always lands in the same conversation whatever channel they write on.
    """

    __tablename__ = "conversations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    key: Mapped[str] = mapped_column(String(96))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    sender_index: Mapped[str | None] = mapped_column(String(64))
    assigned_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    state: Mapped[str] = mapped_column(String(16), default="unclaimed")
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    last_message_at: Mapped[datetime | None] = mapped_column()
    last_inbound_id: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("service_id", "key"),
        Index("ix_conversations_inbox", "service_id", "state", "last_message_at"),
        Index("ix_conversations_staff", "assigned_staff_id", "last_message_at"),
    )


class ConsentEvent(Base):
    """One change of consent for an address: the append-only ledger behind `OptOut`."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    channel: Mapped[str] = mapped_column(String(16))
    address_index: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(16))  # opt_out | opt_in
    keyword: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    # One consent change per inbound message: a replayed message cannot write it twice.
    inbound_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_consent_events_address", "service_id", "channel", "address_index", "at"),)


class OpenQuestion(Base):
    """A notification waiting for a reply: `choices` maps what the person may answer to its meaning."""

    __tablename__ = "open_questions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    notification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id"))
    kind: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(64))  # e.g. the appointment id
    choices: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | answered | withdrawn
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    answer: Mapped[str | None] = mapped_column(String(64))
    answer_value: Mapped[str | None] = mapped_column(String(64))
    inbound_id: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (Index("ix_open_questions_person", "service_id", "person_id", "state", "created_at"),)


class AutoReply(Base):
    """An automatic reply sent to an address; unique per kind and UTC day."""

    __tablename__ = "auto_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(32))  # unclaimed | out_of_office
    address_index: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    inbound_id: Mapped[uuid.UUID] = mapped_column()
    notification_id: Mapped[uuid.UUID | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("service_id", "kind", "address_index", "day"),)
