"""Tables for messages both ways: notifications with their status history, and inbound messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, for both databases."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Notification(Base):
    """One outbound message on one channel. Recipient and content are sealed at rest."""

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    key_type: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("templates.id"))
    template_version: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str | None] = mapped_column(String(1000))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # keyed hash of the request an Idempotency-Key was first used with (gateway.api.idempotency, migration 0009)
    request_hash: Mapped[str | None] = mapped_column(String(64))
    recipient_enc: Mapped[str] = mapped_column(Text)
    recipient_index: Mapped[str] = mapped_column(String(64))
    subject_enc: Mapped[str | None] = mapped_column(Text)
    body_enc: Mapped[str] = mapped_column(Text)
    sender: Mapped[str | None] = mapped_column(String(255))
    fragments: Mapped[int] = mapped_column(Integer, default=1)
    postage: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32), default="created")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    broadcast_id: Mapped[uuid.UUID | None] = mapped_column()
    appointment_id: Mapped[uuid.UUID | None] = mapped_column()
    created_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    scheduled_for: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    # delivery (gateway.jobs): when a worker claimed the row (`sending`), and when a retry is due
    claimed_at: Mapped[datetime | None] = mapped_column()
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    # the send slot this row holds under its sender's rate limit (gateway.jobs.prepare): no second token
    rate_slot_at: Mapped[datetime | None] = mapped_column()
    # email the gateway sends on its own (reminders, broadcasts): List-Unsubscribe with a signed
    # one-click link (gateway.unsubscribe; migration 0010). Staff and API sends leave it False.
    one_click_unsubscribe: Mapped[bool] = mapped_column(default=False, server_default=false())
    # while its provider fails (gateway.jobs.held): the sender's breaker this row waits for (held while
    # next_attempt_at is NULL, released once it is set), and since when it has waited for a provider
    held_for: Mapped[str | None] = mapped_column(String(300))
    waiting_since: Mapped[datetime | None] = mapped_column()
    # quiet hours (gateway.sendtime.quiet_hours, migration 0018): sent by the gateway on its own (held
    # to the recipient's sending window); not worth sending at or after `send_before`; and, for an
    # urgent victim-safety notice, the recorded reason it may go at any hour
    automatic: Mapped[bool] = mapped_column(default=False, server_default=false())
    send_before: Mapped[datetime | None] = mapped_column()
    quiet_override: Mapped[str | None] = mapped_column(Text)
    # a broadcast's text held by quiet hours goes back to its broadcast's pump (next_attempt_at NULL), which
    # hands it out again once this has passed (gateway.broadcasts.pump; migration 0024)
    quiet_until: Mapped[datetime | None] = mapped_column()
    # a send of this row got no answer (a timeout, a dropped connection, a worker lost mid-send) at or after
    # this time, so the provider may have taken it: asked before it goes again (gateway.jobs.unsure; 0025)
    unsure_since: Mapped[datetime | None] = mapped_column()
    # a Certified Mail letter's tracking number, as the mail house reports it (gateway.letters.tracking; 0015)
    tracking_number: Mapped[str | None] = mapped_column(String(64))
    # an appointment's message (gateway.appointments; migration 0019): which one it is, e.g.
    # "reminder:1d", "moved", "cancelled", "missed"; with `appointment_id`
    appointment_step: Mapped[str | None] = mapped_column(String(32))

    # Each status change writes an entry in every index the row is in, so the sweeper's indexes hold
    # only the rows still in flight, and the look-up indexes only rows with a value (migration 0005).
    __table_args__ = (
        Index("ix_notifications_service_created", "service_id", "created_at"),
        Index("ix_notifications_created", "created_at", **_where("status = 'created'")),
        Index("ix_notifications_sending", "claimed_at", **_where("status = 'sending'")),
        Index(
            "ix_notifications_held",
            "held_for",
            "created_at",
            **_where("status = 'created' AND held_for IS NOT NULL"),
        ),
        # due scheduled messages and reminders, by time (gateway.appointments' scheduler; migration 0019)
        Index(
            "ix_notifications_scheduled",
            "scheduled_for",
            **_where("status = 'created' AND scheduled_for IS NOT NULL"),
        ),
        # a broadcast's recipients by status, in id order (gateway.broadcasts.pump; migration 0021)
        Index("ix_notifications_broadcast", "broadcast_id", "status", "id", **_where("broadcast_id IS NOT NULL")),
        Index("ix_notifications_appointment", "appointment_id", **_where("appointment_id IS NOT NULL")),
        Index("ix_notifications_provider_ref", "provider_ref", **_where("provider_ref IS NOT NULL")),
        Index(
            "ix_notifications_idempotency",
            "service_id",
            "key_type",
            "idempotency_key",
            unique=True,
            **_where("idempotency_key IS NOT NULL"),
        ),
    )


class NotificationEvent(Base):
    """Status history: one row per change, in order."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notifications.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    detail: Mapped[str | None] = mapped_column(Text)


class InboundMessage(Base):
    """An SMS or email received. The provider's id is unique so a retried webhook is stored once."""

    __tablename__ = "inbound_messages"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    channel: Mapped[str] = mapped_column(String(16))
    provider_id: Mapped[str] = mapped_column(String(255))
    sender_enc: Mapped[str] = mapped_column(Text)
    sender_index: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))
    body_enc: Mapped[str] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    state: Mapped[str] = mapped_column(String(16), default="received")
    stage: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # added by migration 0003 (inbound handlers)
    reply_to_notification_id: Mapped[uuid.UUID | None] = mapped_column()
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conversations.id"))
    processed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        UniqueConstraint("channel", "provider_id"),
        Index("ix_inbound_service_received", "service_id", "received_at"),
        Index("ix_inbound_state_received", "state", "received_at"),
        # unread per member of staff counts a conversation's messages after a time (migration 0016)
        Index("ix_inbound_conversation_received", "conversation_id", "received_at"),
    )
