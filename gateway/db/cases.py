"""Tables for people, their contact points and consent, cases, participants and the case record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class Person(Base):
    """Someone the service writes to: a client, a victim, or another participant.

    `external_id` is the agency's own id (case-management system), unique per service: people
    synced in are upserted by it (gateway.directory). People made by hand or from an unknown
    sender have none. `display_name` is what pages show: the preferred name, else first + last.
    `consent` holds, per channel, the consent the agency recorded: {"sms": {"granted": true,
    "source": "intake-form", "at": "<ISO 8601>"}}; opt-outs by keyword live in `opt_outs`.
    A retired person keeps their history; sends to them are refused.
    """

    __tablename__ = "people"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    preferred_name: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(16), default="en")
    # the person's IANA zone; None = unknown (quiet hours then fall back to the number's, then the service's)
    timezone: Mapped[str | None] = mapped_column(String(64))
    preferred_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column()
    # set when this person was merged into another (gateway.directory): the survivor's id
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column()

    __table_args__ = (UniqueConstraint("service_id", "external_id"),)


class ContactPoint(Base):
    """A phone number, email address or postal address; the value is sealed, found by blind index."""

    __tablename__ = "contact_points"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    value_enc: Mapped[str] = mapped_column(Text)
    value_index: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # a changed number or address is retired, never deleted: history and replies from it still resolve
    retired_at: Mapped[datetime | None] = mapped_column()
    retired_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_contact_points_lookup", "service_id", "kind", "value_index"),)


class OptOut(Base):
    """Consent state per address and sender: the delivery path refuses opted-out addresses."""

    __tablename__ = "opt_outs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    channel: Mapped[str] = mapped_column(String(16))
    address_index: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(64), default="")
    opted_out: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("service_id", "channel", "address_index", "sender"),)


class Case(Base):
    """A case, known by the external reference of the agency's case-management system."""

    __tablename__ = "cases"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    external_ref: Mapped[str] = mapped_column(String(128))
    assigned_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # synced from the agency's case-management system (gateway.directory)
    program: Mapped[str | None] = mapped_column(String(128))
    office: Mapped[str | None] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    supervision_level: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("service_id", "external_ref"),
        Index("ix_cases_staff_status", "service_id", "assigned_staff_id", "status"),
    )


class CaseParticipant(Base):
    """A person's part in a case: client (offender), victim, or other."""

    __tablename__ = "case_participants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "person_id", "role"),)


class RecordEntry(Base):
    """An append-only case record entry. `hash` covers the entry and the previous entry's hash."""

    __tablename__ = "record_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notification_id: Mapped[uuid.UUID | None] = mapped_column()
    inbound_id: Mapped[uuid.UUID | None] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("case_id", "seq"),)
