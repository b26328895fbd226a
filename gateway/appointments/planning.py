"""Planning: make an appointment's pending messages match the appointment, after any change to it.

`plan_changes` is the body of the hook `gateway.appointments.plan.appointments_changed`. It works
on a whole batch (a request, an import chunk) with a fixed number of statements per thousand
appointments: read the plans, the people's contact points, the templates and the appointments'
existing messages; cancel the stale ones in one UPDATE; write the new ones in one insert.

For each appointment, by its status and the change it had:

* still to come (scheduled, confirmed, reschedule requested):
  - its pending messages (`created`) for another start time are cancelled ("appointment moved");
    on UPDATED (place, what to bring...) each pending reminder is rendered again, and one whose
    words, channel or recipient changed is cancelled and written again (an unchanged one is kept, so
    a source refresh that reports every row as updated writes nothing);
  - each step of its plan that has no message for this start time yet becomes a reminder
    notification due at the step's time (`scheduled_for` = `next_attempt_at`; the scheduler sends
    it then). A step already past, or not before the start, is skipped, and the case record says
    so once. Running the hook again with nothing changed therefore writes nothing;
  - MOVED also writes one "new time" message (`moved:<sequence>`), sent now;
  - CREATED at a sequence above 0 is a cancelled appointment scheduled again (its cancel raised the
    sequence; a new one is at 0): one "on again" message (`back_on:<sequence>`), sent now, since the
    client was told not to come and a reminder may not be due before it;
* cancelled: pending messages cancelled, and one "cancelled" notice (`cancelled:<sequence>`) now.
* missed (OUTCOME): pending messages cancelled, the follow-up message to the client and an alert
  to the officer (`gateway.appointments.tasks`), once each.
* attended: pending messages cancelled.

Moved, cancelled and finished appointments' open questions ("Reply C to confirm") are withdrawn.
All messages are `automatic` (quiet hours hold them) with `send_before` = the start, so nothing
goes once it has begun.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.intake import insert_notifications
from gateway.appointments import FINISHED, AppointmentStatus, Change
from gateway.appointments.notices import (
    BACK_ON,
    CANCELLED,
    MISSED,
    NEW_TIME,
    REMINDER,
    Reach,
    Templates,
    message_row,
    reach_people,
)
from gateway.appointments.plans import Plan, plans_for
from gateway.appointments.tasks import OfficerTask, officer_alert_rows
from gateway.crypto import Vault
from gateway.db import Appointment, Notification, OpenQuestion, Service
from gateway.db.base import padded
from gateway.domain import NotificationStatus, RecordKind
from gateway.record import NewEntry, append_many
from gateway.transitions import transition_many

log = structlog.get_logger()
S = NotificationStatus
ACTOR = "gateway:reminders"
QUESTION_KIND = "appointment"
CHUNK = 1000
# steps whose message is only worth sending for the start time it names
TIMED = ("reminder:", "moved:", "back_on:")


@dataclass(frozen=True)
class _Pending:
    """A message of the appointment still `created`: what it is, when, to whom, and its words (sealed)."""

    id: uuid.UUID
    step: str
    send_before: datetime | None
    scheduled_for: datetime | None
    channel: str
    recipient_index: str
    body_enc: str


@dataclass
class _Existing:
    """An appointment's messages so far: pending ones to reconsider, and the steps already written for its time."""

    pending: list[_Pending] = field(default_factory=list)
    steps: set[tuple[str, datetime | None]] = field(default_factory=set)  # (step, send_before) not cancelled


@dataclass
class _Batch:
    rows: list[dict[str, Any]] = field(default_factory=list)
    send_now: list[uuid.UUID] = field(default_factory=list)
    cancel: dict[str, list[uuid.UUID]] = field(default_factory=lambda: defaultdict(list))  # reason -> ids
    entries: list[NewEntry] = field(default_factory=list)
    withdraw: set[str] = field(default_factory=set)
    tasks: list[OfficerTask] = field(default_factory=list)


async def plan_changes(
    session: AsyncSession, vault: Vault, changes: Sequence[tuple[Appointment, Change]], *, now: datetime
) -> list[uuid.UUID]:
    """See the module docstring; returns the ids of the messages to hand to delivery after commit."""
    latest: dict[uuid.UUID, tuple[Appointment, set[Change]]] = {}
    for appointment, change in changes:  # one appointment may be written twice in a chunk: all its changes count
        latest.setdefault(appointment.id, (appointment, set()))[1].add(change)
    batch = _Batch()
    items = list(latest.values())
    for at in range(0, len(items), CHUNK):
        await _plan_chunk(session, vault, items[at : at + CHUNK], now, batch)
    for reason, ids in batch.cancel.items():
        for at in range(0, len(ids), CHUNK):
            await transition_many(
                session,
                [Notification.id.in_(ids[at : at + CHUNK])],
                expected=S.CREATED,
                to=S.CANCELLED,
                detail=reason,
                failure_reason=reason,
            )
    if batch.withdraw:
        withdraw = sorted(batch.withdraw)
        for at in range(0, len(withdraw), CHUNK):
            await session.execute(
                update(OpenQuestion)
                .where(
                    OpenQuestion.kind == QUESTION_KIND,
                    OpenQuestion.subject_id.in_(withdraw[at : at + CHUNK]),
                    OpenQuestion.state == "open",
                )
                .values(state="withdrawn")
                .execution_options(synchronize_session=False)
            )
    if batch.tasks:
        alerts, notes = await officer_alert_rows(session, vault, batch.tasks)
        batch.rows += alerts
        batch.send_now += [r["id"] for r in alerts]
        batch.entries += notes
    if batch.rows:
        for row in batch.rows:  # one insert needs one set of columns: alerts have no due time
            row.setdefault("next_attempt_at", None)
            row.setdefault("appointment_step", None)
        connection = await session.connection()
        for at in range(0, len(batch.rows), CHUNK):
            await insert_notifications(connection, batch.rows[at : at + CHUNK])
    if batch.entries:
        await append_many(session, batch.entries)
    log.info(
        "reminders.planned",
        appointments=len(items),
        written=len(batch.rows),
        cancelled=sum(len(ids) for ids in batch.cancel.values()),
        send_now=len(batch.send_now),
    )
    return batch.send_now


async def _plan_chunk(
    session: AsyncSession,
    vault: Vault,
    items: list[tuple[Appointment, set[Change]]],
    now: datetime,
    batch: _Batch,
) -> None:
    appointments = [a for a, _ in items]
    ids = [a.id for a in appointments]
    existing: dict[uuid.UUID | None, _Existing] = defaultdict(_Existing)
    rows = await session.execute(
        select(
            Notification.id,
            Notification.appointment_id,
            Notification.appointment_step,
            Notification.status,
            Notification.send_before,
            Notification.scheduled_for,
            Notification.channel,
            Notification.recipient_index,
            Notification.body_enc,
        ).where(Notification.appointment_id.in_(padded(ids)))
    )
    for nid, appointment_id, step, status, send_before, scheduled_for, channel, index, body_enc in rows:
        found = existing[appointment_id]  # never None: the query asked for these ids
        if status == S.CREATED.value:
            found.pending.append(_Pending(nid, step or "", send_before, scheduled_for, channel, index, body_enc))
        if status != S.CANCELLED.value:
            found.steps.add((step or "", send_before))
    service_ids = {a.service_id for a in appointments}
    plans = await plans_for(session, {(a.service_id, a.kind) for a in appointments})
    reach = await reach_people(session, vault, {a.person_id for a in appointments})
    templates = await Templates.load(session, service_ids)
    services = {
        s.id: s for s in (await session.scalars(select(Service).where(Service.id.in_(padded(service_ids))))).all()
    }
    for appointment, kinds in items:
        _plan_one(vault, appointment, kinds, existing[appointment.id], plans, reach, templates, services, now, batch)


def _plan_one(
    vault: Vault,
    appointment: Appointment,
    kinds: set[Change],
    existing: _Existing,
    plans: dict[tuple[uuid.UUID, str], Plan],
    reach: dict[uuid.UUID, Reach],
    templates: Templates,
    services: dict[uuid.UUID, Service],
    now: datetime,
    batch: _Batch,
) -> None:
    a, status = appointment, appointment.status
    finished = status in FINISHED
    service = services.get(a.service_id)
    person = reach.get(a.person_id)
    for p in existing.pending:
        if not p.step.startswith(TIMED):
            continue
        if finished:
            batch.cancel[f"appointment {status}"].append(p.id)
        elif p.send_before != a.starts_at:
            batch.cancel["appointment moved"].append(p.id)
        elif Change.UPDATED in kinds and p.step.startswith("reminder:"):
            now_says = message_row(
                vault, a, service, person, templates, REMINDER, p.step, p.scheduled_for, p.send_before
            )
            if not _same(vault, p, now_says):  # the place, what to bring, the number... changed: written again
                batch.cancel["appointment details changed; reminder written again"].append(p.id)
                existing.steps.discard((p.step, p.send_before))
    if finished or Change.MOVED in kinds:
        batch.withdraw.add(str(a.id))
    if service is None:
        return
    notes: list[str] = []

    def add(slug: str, step: str, due: datetime | None, send_before: datetime | None) -> None:
        if (step, send_before) in existing.steps:
            return
        if person is None:
            notes.append(f"{step}: not sent, the client has no mobile number or email address to reach")
            return
        row = message_row(vault, a, service, person, templates, slug, step, due, send_before)
        if isinstance(row, str):
            notes.append(f"{step}: not sent, {row}")
            return
        batch.rows.append(row)
        existing.steps.add((step, send_before))
        if due is None:
            batch.send_now.append(row["id"])

    if status == AppointmentStatus.CANCELLED:
        if Change.CANCELLED in kinds and a.starts_at > now:
            add(CANCELLED, f"cancelled:{a.sequence}", None, a.starts_at)
    elif status == AppointmentStatus.MISSED:
        if Change.OUTCOME in kinds and ("missed", None) not in existing.steps:
            add(MISSED, "missed", None, None)
            batch.tasks.append(
                OfficerTask(a, "missed their appointment", "Please contact the client to set a new time.")
            )
    elif not finished:
        plan = plans[(a.service_id, a.kind)]
        planned_before = any(send_before == a.starts_at for _, send_before in existing.steps)
        skipped = []
        for plan_step in plan.steps or []:
            name = f"reminder:{plan_step.name}"
            if (name, a.starts_at) in existing.steps:
                continue
            due = plan_step.due(a.starts_at, a.time_zone)
            if due <= now or due >= a.starts_at:
                skipped.append(plan_step.name)
                continue
            add(REMINDER, name, due, a.starts_at)
        # said once (not again when the same appointment is written again), and not for a past one
        if skipped and not planned_before and a.starts_at > now:
            notes.append(f"reminders {', '.join(skipped)} before not planned: that time had passed")
        if Change.MOVED in kinds and a.starts_at > now:
            add(NEW_TIME, f"moved:{a.sequence}", None, a.starts_at)
        elif Change.CREATED in kinds and a.sequence > 0 and a.starts_at > now:
            add(BACK_ON, f"back_on:{a.sequence}", None, a.starts_at)
    if notes:
        summary = "Appointment messages: " + "; ".join(notes)
        batch.entries.append(NewEntry(a.case_id, RecordKind.OUTBOUND, ACTOR, summary, {"appointment_id": str(a.id)}))


def _same(vault: Vault, pending: _Pending, row: dict[str, Any] | str) -> bool:
    """Whether a pending message already says what `row` would (same channel, recipient and words)."""
    if isinstance(row, str):
        return False
    return (row["channel"], row["recipient_index"]) == (pending.channel, pending.recipient_index) and vault.open(
        row["body_enc"]
    ) == vault.open(pending.body_enc)
