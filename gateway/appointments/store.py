"""Writing appointments: validate, compare with what is stored, write only what changed, record it, plan.

The same flow as the directory (`gateway.directory.cases`): `fields.validate_appointment` checks
shapes, `plan_appointment` resolves names against `Lookups` and compares with the stored row
(`load_stored`), and `apply_plans` writes the plans that change something with Core statements,
one case-record line each (`words.record_entry`), then calls the reminders hook
(`gateway.appointments.plan.appointments_changed`) once for all of them with the `Change` each
made. It returns the notification ids the caller hands to delivery after its commit.

Rules, in one place:
* The case must be a case of the service and open (checked when something is written, so an
  unchanged row of a daily refresh is never refused because its case closed since).
* The person is the case's client unless `person` names another participant of the case.
* The member of staff is `staff` (an active member of the service, by email), else the case's officer.
* The zone is `time_zone`, else the person's, else the service's.
* A new start is a MOVE: `previous_starts_at`, `moved_at`, `sequence` + 1 and status back to
  scheduled (unless the same write sets a status). An appointment with an outcome cannot move.
* `status` left out keeps the stored one. Attended / missed only once the appointment has started
  (by the clock) and never for a cancelled one; an appointment with an outcome cannot be cancelled.
  A cancelled appointment given a live status again is reinstated: the hook is told CREATED (plan
  its reminders from scratch), or MOVED when its time changes in the same write.
* Its case and its person never change: cancel it and add it again instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import AppointmentStatus, Change
from gateway.appointments.fields import AppointmentInput, resolve_start
from gateway.appointments.lookups import Lookups
from gateway.appointments.plan import appointments_changed
from gateway.appointments.words import record_entry
from gateway.crypto import Vault
from gateway.db import Appointment
from gateway.db.base import utcnow
from gateway.directory.fields import FieldErrors
from gateway.domain import CaseStatus
from gateway.record import NewEntry, append_many

APPOINTMENTS = cast(Table, Appointment.__table__)
OUTCOMES = (AppointmentStatus.ATTENDED.value, AppointmentStatus.MISSED.value)
CANCELLED = AppointmentStatus.CANCELLED.value
# Column -> the API's field name, in the order a change lists them.
COMPARED = {
    "kind": "kind",
    "title": "title",
    "starts_at": "starts_at",
    "time_zone": "time_zone",
    "duration_minutes": "duration_minutes",
    "location_kind": "location_kind",
    "location": "location",
    "staff_id": "staff",
    "bring": "bring",
    "notes": "notes",
    "status": "status",
}
# What the client sees: a change to any of these raises the `.ics` SEQUENCE.
SEEN_BY_CLIENT = frozenset({"kind", "title", "starts_at", "duration_minutes", "location_kind", "location", "bring"})
CHUNK = 1000


@dataclass(slots=True)
class Stored:
    """An appointment as stored, with its notes opened (for comparing)."""

    id: uuid.UUID
    external_id: str | None
    case_id: uuid.UUID
    person_id: uuid.UUID
    values: dict[str, Any]  # COMPARED columns, `notes` opened
    sequence: int
    previous_starts_at: datetime | None
    moved_at: datetime | None


@dataclass(slots=True)
class AppointmentPlan:
    id: uuid.UUID
    created: bool
    changed: list[str]  # the API's field names; ["created"] for a new one; [] for nothing to write
    change: Change | None
    values: dict[str, Any]  # the row's columns to write
    record: NewEntry | None


_LOADED = (
    "id",
    "external_id",
    "case_id",
    "person_id",
    "notes_enc",
    "sequence",
    "previous_starts_at",
    "moved_at",
    *(name for name in COMPARED if name != "notes"),
)


def stored_from(row: Any, vault: Vault) -> Stored:
    values = {name: getattr(row, name) for name in COMPARED if name != "notes"}
    values["notes"] = vault.open(row.notes_enc) if row.notes_enc else None
    return Stored(
        row.id, row.external_id, row.case_id, row.person_id, values, row.sequence, row.previous_starts_at, row.moved_at
    )


async def load_stored(
    db: AsyncSession, vault: Vault, service_id: uuid.UUID, external_ids: Sequence[str] | None = None
) -> dict[str, Stored]:
    """The service's appointments that have an external id (all, or those named), by external id."""
    stmt = select(*(APPOINTMENTS.c[name] for name in _LOADED)).where(
        APPOINTMENTS.c.service_id == service_id, APPOINTMENTS.c.external_id.is_not(None)
    )
    if external_ids is not None:
        stmt = stmt.where(APPOINTMENTS.c.external_id.in_(list(external_ids)))
    # streamed in parts: a daily refresh of 100,000 appointments never holds the rows and the states at once
    result = await db.stream(stmt.execution_options(yield_per=CHUNK))
    return {row.external_id: stored_from(row, vault) async for row in result}


def plan_appointment(
    service_id: uuid.UUID,
    external_id: str | None,
    stored: Stored | None,
    new: AppointmentInput,
    names: Lookups,
    *,
    actor: str,
    now: datetime,
    source: str,
) -> AppointmentPlan:
    """Resolve and compare; FieldErrors for anything the service does not hold or a rule refuses."""
    errors: dict[str, str] = {}
    case = names.cases.get(new.case_reference)
    person_id = staff_id = None
    if case is None:
        errors["case_reference"] = f"no case with reference {new.case_reference!r} in this service"
    else:
        if new.person is not None:
            person_id = names.by_external_id.get(new.person)
            if person_id is None:
                errors["person"] = f"no person with external id {new.person!r} in this service"
            elif person_id not in case.participants:
                errors["person"] = f"{new.person!r} does not take part in case {case.reference!r}"
        elif case.client_id is None:
            errors["case_reference"] = f"case {case.reference!r} has no client: give the person's external id"
        else:
            person_id = case.client_id
        staff_id = case.officer_id
        if stored is not None and stored.case_id != case.id:
            errors["case_reference"] = "an appointment's case cannot be changed: cancel it and add a new one"
        elif stored is not None and person_id is not None and stored.person_id != person_id:
            errors["person"] = "an appointment's person cannot be changed: cancel it and add a new one"
    if new.staff is not None:
        staff_id = names.staff.get(new.staff)
        if staff_id is None:
            errors["staff"] = f"no active member of staff with email {new.staff!r} in this service"
    if errors or case is None or person_id is None:
        raise FieldErrors(errors)
    zone_name = new.time_zone or names.person_zone(person_id)
    starts_at = resolve_start(new.starts_at, zone_name)
    values: dict[str, Any] = {
        "kind": new.kind,
        "title": new.title,
        "starts_at": starts_at,
        "time_zone": zone_name,
        "duration_minutes": new.duration_minutes,
        "location_kind": new.location_kind,
        "location": new.location,
        "staff_id": staff_id,
        "bring": new.bring,
        "notes": new.notes,
        "status": new.status or (stored.values["status"] if stored else AppointmentStatus.SCHEDULED.value),
    }
    moved = stored is not None and starts_at != stored.values["starts_at"]
    if moved and new.status is None:
        values["status"] = AppointmentStatus.SCHEDULED.value
    before = stored.values["status"] if stored else None
    check_status(before, values["status"], starts_at, now, moved=moved)
    if case.status != CaseStatus.OPEN.value and (stored is None or _differs(stored, values)):
        raise FieldErrors({"case_reference": f"case {case.reference!r} is closed: reopen it first"})
    return _plan(service_id, external_id, stored, case.id, person_id, values, actor=actor, now=now, source=source)


def check_status(before: str | None, after: str, starts_at: datetime, now: datetime, *, moved: bool = False) -> None:
    """FieldErrors when a status change breaks the rules (see the module docstring)."""
    if before in OUTCOMES and moved:
        raise FieldErrors({"starts_at": f"cannot change: the appointment is already marked {before}"})
    if after == before:
        return
    if after in OUTCOMES:
        if before == CANCELLED:
            raise FieldErrors({"status": "a cancelled appointment cannot be marked attended or missed"})
        if starts_at > now:
            raise FieldErrors(
                {
                    "status": f"can be {after} only once the appointment has started "
                    f"(it starts {starts_at:%Y-%m-%d %H:%M} UTC)"
                }
            )
    if after == CANCELLED and before in OUTCOMES:
        raise FieldErrors({"status": f"an appointment already marked {before} cannot be cancelled"})


def _differs(stored: Stored, values: dict[str, Any]) -> bool:
    return any(stored.values[name] != values[name] for name in COMPARED)


def _plan(
    service_id: uuid.UUID,
    external_id: str | None,
    stored: Stored | None,
    case_id: uuid.UUID,
    person_id: uuid.UUID,
    values: dict[str, Any],
    *,
    actor: str,
    now: datetime,
    source: str,
) -> AppointmentPlan:
    changed_cols = [name for name in COMPARED if stored is None or stored.values[name] != values[name]]
    changed = ["created"] if stored is None else [COMPARED[name] for name in changed_cols]
    row = {k: v for k, v in values.items() if k != "notes"}
    appointment_id = stored.id if stored else uuid.uuid4()
    if not changed:
        return AppointmentPlan(appointment_id, False, [], None, row, None)
    row["notes_enc"] = values["notes"]  # sealed by apply_plans (a Vault is not needed to compare)
    row["updated_at"] = utcnow()  # a record of when (gateway.clock); status_at and moved_at are on the clock
    if stored is None:
        row.update(id=appointment_id, service_id=service_id, external_id=external_id, case_id=case_id)
        row.update(person_id=person_id, source=source, created_at=row["updated_at"], status_at=now, sequence=0)
        change = Change.CREATED
    else:
        row["id"] = stored.id
        status_changed = "status" in changed_cols
        if status_changed:
            row["status_at"] = now
        # back from cancelled (not to an outcome, which is refused): planned again as if new
        reinstated = status_changed and stored.values["status"] == CANCELLED
        row["sequence"] = stored.sequence + (
            1 if SEEN_BY_CLIENT & set(changed_cols) or values["status"] == CANCELLED or reinstated else 0
        )
        row["previous_starts_at"], row["moved_at"] = stored.previous_starts_at, stored.moved_at
        if "starts_at" in changed_cols:
            row["previous_starts_at"], row["moved_at"] = stored.values["starts_at"], now
            change = Change.MOVED
        elif reinstated:
            change = Change.CREATED
        elif status_changed and values["status"] == CANCELLED:
            change = Change.CANCELLED
        elif status_changed and values["status"] in OUTCOMES:
            change = Change.OUTCOME
        else:
            change = Change.UPDATED
    entry_values = {**values, "id": appointment_id, "external_id": external_id, "person_id": person_id}
    previous = stored.values["starts_at"] if stored is not None and change is Change.MOVED else None
    again = stored is not None and change is Change.CREATED
    entry = record_entry(case_id, actor, change, entry_values, changed, previous_start=previous, reinstated=again)
    return AppointmentPlan(appointment_id, stored is None, changed, change, row, entry)


def status_plan(stored: Stored, status: str, *, actor: str, now: datetime) -> AppointmentPlan:
    """A plan that only sets the status (cancel, outcome, staff marks): FieldErrors when the rules refuse."""
    check_status(stored.values["status"], status, stored.values["starts_at"], now)
    values = {**stored.values, "status": status}
    return _plan(
        uuid.UUID(int=0),
        stored.external_id,
        stored,
        stored.case_id,
        stored.person_id,
        values,
        actor=actor,
        now=now,
        source="",
    )


_UPDATE = (
    update(APPOINTMENTS)
    .where(APPOINTMENTS.c.id == bindparam("b_id"))
    .values(
        {
            name: bindparam(f"b_{name}")
            for name in (
                *[c for c in COMPARED if c != "notes"],
                "notes_enc",
                "updated_at",
                "sequence",
                "previous_starts_at",
                "moved_at",
            )
        }
    )
)
_UPDATE_STATUS_AT = (
    update(APPOINTMENTS).where(APPOINTMENTS.c.id == bindparam("b_id")).values(status_at=bindparam("b_status_at"))
)


async def apply_plans(
    db: AsyncSession, vault: Vault, plans: Sequence[AppointmentPlan], *, now: datetime
) -> list[uuid.UUID]:
    """Write the plans that change something, their record lines, then the reminders hook (one call).

    Returns the notification ids to hand to delivery after the caller commits."""
    plans = [p for p in plans if p.changed]
    if not plans:
        return []
    for plan in plans:
        notes = plan.values["notes_enc"]
        plan.values["notes_enc"] = vault.seal(notes) if notes else None
    created = [p.values for p in plans if p.created]
    updated = [{f"b_{k}": v for k, v in p.values.items() if k != "status_at"} for p in plans if not p.created]
    status_at = [
        {"b_id": p.id, "b_status_at": p.values["status_at"]} for p in plans if not p.created and "status_at" in p.values
    ]
    rows_by_id: dict[uuid.UUID, Appointment] = {}
    for start in range(0, len(created), CHUNK):  # new rows come back as they were written, not read again
        new_rows = await db.scalars(insert(Appointment).returning(Appointment), created[start : start + CHUNK])
        rows_by_id.update({a.id: a for a in new_rows})
    for rows, stmt in ((updated, _UPDATE), (status_at, _UPDATE_STATUS_AT)):
        for start in range(0, len(rows), CHUNK):
            await db.execute(stmt, rows[start : start + CHUNK])
    await append_many(db, [p.record for p in plans if p.record is not None])
    ids = [p.id for p in plans if not p.created]
    for start in range(0, len(ids), CHUNK):
        found = await db.scalars(
            select(Appointment)
            .where(Appointment.id.in_(ids[start : start + CHUNK]))
            .execution_options(populate_existing=True)
        )
        rows_by_id.update({a.id: a for a in found})
    changes = [(rows_by_id[p.id], p.change) for p in plans if p.change is not None]
    return await appointments_changed(db, vault, changes, now=now)
