"""Tables for the tenant boundary: services, API keys, staff, templates and the audit log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class Service(Base):
    """One agency unit and the compartment boundary: nothing is ever queried across services."""

    __tablename__ = "services"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32), default="supervision")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
    # sender details
    sms_sender: Mapped[str | None] = mapped_column(String(32))
    messaging_service_sid: Mapped[str | None] = mapped_column(String(64))
    email_from: Mapped[str | None] = mapped_column(String(255))
    email_reply_domain: Mapped[str | None] = mapped_column(String(255))
    letter_contact_block: Mapped[str | None] = mapped_column(Text)
    letter_logo_sha256: Mapped[str | None] = mapped_column(String(64))  # letter_logos row (migration 0015)
    contact_text: Mapped[str | None] = mapped_column(Text)
    # delivery receipts and inbound SMS callbacks (Notify format); tokens sealed
    callback_url: Mapped[str | None] = mapped_column(String(1024))
    callback_token_enc: Mapped[str | None] = mapped_column(Text)
    inbound_callback_url: Mapped[str | None] = mapped_column(String(1024))
    inbound_callback_token_enc: Mapped[str | None] = mapped_column(Text)
    # Notify's separate returned-letter callback (gateway.letters.callback; migration 0015)
    returned_letter_callback_url: Mapped[str | None] = mapped_column(String(1024))
    returned_letter_callback_token_enc: Mapped[str | None] = mapped_column(Text)
    # limits
    daily_limit: Mapped[int] = mapped_column(Integer, default=250_000)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    sms_per_second: Mapped[int] = mapped_column(Integer, default=10)
    # the agency's wall clock for staff pages and scheduled sends (gateway.localtime); stored times are UTC
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    # the local hours the gateway may text on its own (gateway.sendtime.quiet_hours): HH:MM-HH:MM or a
    # preset name; NULL is the default window (migration 0018)
    quiet_hours: Mapped[str | None] = mapped_column(String(32))
    # a broadcast to more recipients than this needs a second person's approval (gateway.broadcasts; 0021)
    broadcast_approval_threshold: Mapped[int] = mapped_column(Integer, default=500, server_default="500")


class ApiKey(Base):
    """An API key; the secret is sealed, because Notify's JWT scheme needs it back to verify."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    key_type: Mapped[str] = mapped_column(String(16))
    secret_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    # migration 0009: who made it (the audit actor), and when it last authenticated a request, kept
    # to the minute (gateway.api.key_usage: at most one write a minute per key and process)
    created_by: Mapped[str | None] = mapped_column(String(255))
    last_used_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("service_id", "name"),)


class StaffUser(Base):
    """A member of staff in one service, with roles. Passwords are argon2 hashes."""

    __tablename__ = "staff_users"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str | None] = mapped_column(Text)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    # the time step of the last code accepted, so no code is accepted twice (migration 0004)
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    mobile_enc: Mapped[str | None] = mapped_column(Text)
    mobile_index: Mapped[str | None] = mapped_column(String(64), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    out_of_office: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Alerts the member of staff chose (gateway.alerts, migration 0017): an email when a client writes
    # (never the text), a daily digest of replies unanswered for more than `digest_after_hours`,
    # and an absence (`away_from`..`away_until`) during which clients get `out_of_office` once and
    # `covering_staff_id` gets their replies.
    alert_new_messages: Mapped[bool] = mapped_column(default=False, server_default=false())
    digest_after_hours: Mapped[int | None] = mapped_column(Integer)
    digest_sent_on: Mapped[date | None] = mapped_column(Date)
    away_from: Mapped[datetime | None] = mapped_column()
    away_until: Mapped[datetime | None] = mapped_column()
    covering_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))


class Template(Base):
    """A message template loaded from a file under templates/; the current version's content."""

    __tablename__ = "templates"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("services.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    slug: Mapped[str] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    postage: Mapped[str | None] = mapped_column(String(16))
    content_hash: Mapped[str] = mapped_column(String(64))
    # what each placeholder means, from the file's `field.<name>:` lines (gateway.templating.fields)
    fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source_path: Mapped[str] = mapped_column(String(1024))
    archived: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TemplateVersion(Base):
    """Every version a template has had, so a notification can show what it was sent with."""

    __tablename__ = "template_versions"

    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("templates.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who read or changed what, when, from where, with what outcome."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    service_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("services.id"))
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32), default="ok")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_service_at", "service_id", "at"),)
