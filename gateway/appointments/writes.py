"""One appointment at a time, for the API and the staff pages: upsert, change its status, cancel.

Each function works in the caller's transaction and returns what the caller needs after it commits:
the notification ids for `gateway.jobs.delivery.enqueue_deliveries` (from the reminders hook).
FieldErrors (field -> message) before anything is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import AppointmentStatus
from gateway.appointments.fields import AppointmentInput, check_external_id, validate_appointment
from gateway.appointments.lookups import load_lookups
from gateway.appointments.store import (
    APPOINTMENTS,
    AppointmentPlan,
    Stored,
    apply_plans,
    load_stored,
    plan_appointment,
    status_plan,
    stored_from,
)
from gateway.crypto import Vault
from gateway.db import Appointment
from gateway.directory.fields import FieldErrors


@dataclass(slots=True)
class Written:
    """What a write did: the appointment as now stored, the fields changed, and ids for delivery."""

    appointment: Appointment
    changed: list[str]
    deliver: list[uuid.UUID]


async def upsert_appointment(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    external_id: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    now: datetime,
    source: str = "api",
) -> Written:
    """Create or update the appointment `external_id`: `changed` is ["created"], the fields, or []."""
    errors: dict[str, str] = {}
    new: AppointmentInput | None = None
    try:
        check_external_id(external_id)
    except FieldErrors as exc:
        errors.update(exc.errors)
    try:
        new = validate_appointment(fields)
    except FieldErrors as exc:
        errors.update(exc.errors)
    if errors or new is None:
        raise FieldErrors(errors)
    stored = (await load_stored(db, vault, service_id, [external_id])).get(external_id)
    return await _write(db, vault, service_id, external_id, stored, new, actor=actor, now=now, source=source)


async def save_appointment(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    stored: Stored | None,
    new: AppointmentInput,
    *,
    actor: str,
    now: datetime,
) -> Written:
    """Add (stored None) or change an appointment from a staff form (no external id of its own)."""
    external_id = stored.external_id if stored else None
    return await _write(db, vault, service_id, external_id, stored, new, actor=actor, now=now, source="staff")


async def _write(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    external_id: str | None,
    stored: Stored | None,
    new: AppointmentInput,
    *,
    actor: str,
    now: datetime,
    source: str,
) -> Written:
    names = await load_lookups(
        db, service_id, references=[new.case_reference], external_ids=[new.person] if new.person else []
    )
    plan = plan_appointment(service_id, external_id, stored, new, names, actor=actor, now=now, source=source)
    return await _finish(db, vault, plan, now=now)


async def _finish(db: AsyncSession, vault: Vault, plan: AppointmentPlan, *, now: datetime) -> Written:
    deliver = await apply_plans(db, vault, [plan], now=now)
    appointment = await db.get(Appointment, plan.id, populate_existing=True)
    assert appointment is not None
    return Written(appointment, plan.changed, deliver)


async def find_stored(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    *,
    external_id: str | None = None,
    appointment_id: uuid.UUID | None = None,
) -> Stored | None:
    """One appointment of the service, by its external id or its id; None when it is not the service's."""
    stmt = select(APPOINTMENTS).where(APPOINTMENTS.c.service_id == service_id)
    if external_id is not None:
        stmt = stmt.where(APPOINTMENTS.c.external_id == external_id)
    elif appointment_id is not None:
        stmt = stmt.where(APPOINTMENTS.c.id == appointment_id)
    else:
        return None
    row = (await db.execute(stmt)).first()
    return stored_from(row, vault) if row is not None else None


async def set_status(
    db: AsyncSession, vault: Vault, stored: Stored, status: AppointmentStatus, *, actor: str, now: datetime
) -> Written:
    """Cancel, or record an outcome (attended / missed): idempotent, FieldErrors when the rules refuse."""
    plan = status_plan(stored, status.value, actor=actor, now=now)
    return await _finish(db, vault, plan, now=now)
