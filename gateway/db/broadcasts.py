"""The broadcasts table (`gateway.broadcasts`; migration 0021).

A broadcast is one message to many people: an audience (a caseload, an office, a program or tag,
everyone with an appointment on a day, an uploaded list, or rows sent to the bulk API), a template
or free text, and a status. Its recipients are notifications (`notifications.broadcast_id`), written
in bulk when it is sent; its progress is counts over them, never a second status store here.

`status`: draft → (awaiting_approval → approved) → scheduled | sending ⇄ paused → finished; cancelled
from any status before finished. `audience` is the audience in words for pages; `audience_spec`
the same as data (kind and its parameters) so it can be resolved again; an uploaded list's rows,
with their personalisation, are sealed as one document in `upload_enc` (never stored in the clear).
`recipient_count` and `left_out_count` are set when the writing of recipients begins (the count planned)
and `recipient_count` again once it ends. The recipients are written in chunks, a transaction each, while
the first ones already send (migration 0023): `writing_at` is the writer's heartbeat (each chunk) and
`written_at` is set with the last chunk; until then the pump does not finish the broadcast, and a
writer whose heartbeat goes stale is taken over by the sweeper (`gateway.broadcasts.writing`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class Broadcast(Base):
    """One broadcast of one service; see the module docstring."""

    __tablename__ = "broadcasts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    name: Mapped[str] = mapped_column(String(255))
    created_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id"))
    key_type: Mapped[str] = mapped_column(String(16), default="live")
    audience: Mapped[str] = mapped_column(String(500))
    audience_spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    upload_enc: Mapped[str | None] = mapped_column(Text)
    template_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("templates.id"))
    template_version: Mapped[int | None] = mapped_column(Integer)
    message_enc: Mapped[str | None] = mapped_column(Text)  # free text, sealed
    status: Mapped[str] = mapped_column(String(24), default="draft")
    scheduled_for: Mapped[datetime | None] = mapped_column()
    approval_requested_at: Mapped[datetime | None] = mapped_column()
    approved_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_at: Mapped[datetime | None] = mapped_column()
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    left_out_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(255))
    # the one pump job chain handing this broadcast's rows to delivery (gateway.broadcasts.pump): its
    # token and its last tick; another chain takes over only once that tick is stale
    pump_token: Mapped[str | None] = mapped_column(String(32))
    pumped_at: Mapped[datetime | None] = mapped_column()
    writing_at: Mapped[datetime | None] = mapped_column()
    written_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        Index("ix_broadcasts_service_created", "service_id", "created_at"),
        Index("ix_broadcasts_status", "status"),
    )
