"""Tables for appointments and their reminder plans (`gateway.appointments`; migration 0019).

An appointment is one row for its whole life: a move changes `starts_at` (keeping the old time in
`previous_starts_at`) and raises `sequence` (the `.ics` SEQUENCE), so its reminders, answers and
history stay with it. Its reminders are notifications (`notifications.appointment_id`,
`notifications.appointment_step`) planned from the service's `ReminderPlan` for its kind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db.base import Base, new_id, utcnow


class Appointment(Base):
    """A client's appointment: kind, start (UTC) with the zone it was given in, place, member of staff.

    `status`: scheduled → confirmed | reschedule_requested → attended | missed; cancelled at any point
    before it ends. A move is not a resting status: it is recorded (`moved_at`, `previous_starts_at`,
    a case-record line) and the appointment is `scheduled` again at its new time.
    `location_kind`: address (postal address in `location`), phone, or video (`location` is the link).
    `notes_enc`: notes for staff only, sealed; never in a message. `source`: api, import or staff.
    """

    __tablename__ = "appointments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    external_id: Mapped[str | None] = mapped_column(String(128))
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"), index=True)
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(255))  # e.g. "Thinking for a Change, session 4"
    starts_at: Mapped[datetime] = mapped_column()
    time_zone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    location_kind: Mapped[str] = mapped_column(String(16), default="address")
    location: Mapped[str | None] = mapped_column(String(500))
    bring: Mapped[str | None] = mapped_column(String(500))  # what to bring, said in the reminder
    notes_enc: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="scheduled")
    status_at: Mapped[datetime] = mapped_column(default=utcnow)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    previous_starts_at: Mapped[datetime | None] = mapped_column()
    moved_at: Mapped[datetime | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("service_id", "external_id"),
        Index("ix_appointments_service_starts", "service_id", "starts_at"),
        Index("ix_appointments_staff_starts", "staff_id", "starts_at"),
    )


class ReminderPlan(Base):
    """When a service reminds clients of one kind of appointment. `steps` is a list of offsets before the
    start, each {"before": "1d" | "2h" | "30m"} or a fixed local time on a day before
    {"days_before": 0, "at": "08:00"} (gateway.appointments.plans reads and checks them). A service
    without a row for a kind uses the built-in default for it. `template_ids` maps a language to a
    template to use instead of the built-in wording."""

    __tablename__ = "reminder_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id"))
    kind: Mapped[str] = mapped_column(String(32))
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    template_ids: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    updated_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("service_id", "kind"),)
