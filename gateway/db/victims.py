"""Tables for victim notification (`gateway.victims`; migration 0022).

Two services, one direction: an offender-facing service (parole, DOC, a registry) posts
`OffenderEvent`s about its own cases; a victim-services unit (VSU) holds `VictimRegistration`s that
follow those cases (`VictimFollowedCase`: the offender service's id and its case reference). A VSU
may follow a service only when the operator linked them (`VictimServiceLink`). The fan-out writes a
`VictimNotice` per (event, registration) in the VSU; each step of its escalation (a text, an email,
a call, a letter) is a `VictimNoticeStep`; calls are `VictimCall`s; victim impact statement
invitations are `VictimStatement`s. Nothing here is ever read by the offender-facing service except
its own `offender_events` rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class VictimServiceLink(Base):
    """The VSU `vsu_service_id` follows the offender-facing service `offender_service_id` (operator CLI)."""

    __tablename__ = "victim_service_links"

    vsu_service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), primary_key=True)
    offender_service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VictimRegistration(Base):
    """A victim's registration for notification: one per VSU person.

    `channels`: sms, email, voice, letter in the victim's order of preference. `events`: "all" or
    groups (custody, hearings, classification, registration, statements). `substitute_address_enc`:
    the sealed substitute mailing address of an address-confidential victim (the only address printed
    for them). `status`: active | unregistered.
    """

    __tablename__ = "victim_registrations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"), unique=True)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(16), default="en")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    confidential: Mapped[bool] = mapped_column(default=False)
    substitute_address_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    unregistered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (Index("ix_victim_registrations_service_status", "service_id", "status"),)


class VictimFollowedCase(Base):
    """One offender case a registration follows; `vsu_case_id` is the VSU's own case file for it."""

    __tablename__ = "victim_followed_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("victim_registrations.id"), index=True)
    offender_service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    case_reference: Mapped[str] = mapped_column(String(128))
    offender_name: Mapped[str] = mapped_column(String(128))
    vsu_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("registration_id", "offender_service_id", "case_reference"),
        Index("ix_victim_followed_cases_case", "offender_service_id", "case_reference"),
    )


class OffenderEvent(Base):
    """A status change the offender-facing service posted about its case; idempotent by its own event id.

    `fanned_out_at` is set once every notice of the event is written; the sweeper runs the fan-out
    again for an event left without it (a lost job).
    """

    __tablename__ = "offender_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    source_event_id: Mapped[str] = mapped_column(String(128))
    case_reference: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    urgent: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    fanned_out_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("service_id", "source_event_id"),
        Index("ix_offender_events_fanned_out", "fanned_out_at", "received_at"),
    )


class VictimNotice(Base):
    """One victim told of one event (or an informational message): state and escalation step.

    `state`: open (waiting for acknowledgment) → acknowledged; `info` for a message that asks for
    none (unregister confirmation, statement reminder). `plan`: the channels of its steps in order
    (the last may be "letter:certified"); `step` indexes it; `due_at`: when an unacknowledged step
    escalates to the next. `ack_via`: sms-reply, email-link, keypress, staff-letter, staff-phone.
    """

    __tablename__ = "victim_notices"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offender_events.id"))
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("victim_registrations.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(16), default="en")
    personalisation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    plan: Mapped[list[str]] = mapped_column(JSON, default=list)
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="open")
    due_at: Mapped[datetime | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    ack_via: Mapped[str | None] = mapped_column(String(32))
    ack_by: Mapped[str | None] = mapped_column(String(255))
    letter_step_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("event_id", "registration_id"),
        Index("ix_victim_notices_due", "state", "due_at"),
        Index("ix_victim_notices_service_state", "service_id", "state"),
    )


class VictimNoticeStep(Base):
    """One send of a notice: the notification (text, email, letter) or call, and its open question."""

    __tablename__ = "victim_notice_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("victim_notices.id"))
    step: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(24))
    notification_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    call_id: Mapped[uuid.UUID | None] = mapped_column()
    question_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    outcome: Mapped[str | None] = mapped_column(String(64))  # why a step was skipped (no address...)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("notice_id", "step"),)


class VictimCall(Base):
    """A voice notice: called up to `max_attempts` times across its window until a key is pressed.

    `state`: queued → calling → (acknowledged | retry | machine | exhausted). `to_enc` sealed.
    """

    __tablename__ = "victim_calls"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    notice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("victim_notices.id"), index=True)
    to_enc: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16), default="en")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    provider_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    last_status: Mapped[str | None] = mapped_column(String(32))
    answered_by: Mapped[str | None] = mapped_column(String(32))
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_victim_calls_due", "state", "next_attempt_at"),)


class VictimStatement(Base):
    """A victim impact statement invitation: its deadline, reminders sent, and receipt recorded by staff."""

    __tablename__ = "victim_statements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    registration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("victim_registrations.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("offender_events.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    deadline: Mapped[datetime] = mapped_column()
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime | None] = mapped_column()
    received_at: Mapped[datetime | None] = mapped_column()
    received_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("registration_id", "event_id"),
        Index("ix_victim_statements_due", "received_at", "next_reminder_at"),
    )
