"""Officer tasks from appointments: a client asked to reschedule, or missed it.

There is no task list of its own: a task is (1) the appointment's status (`reschedule_requested`,
`missed`), which "My appointments" shows, (2) the client's reply in the officer's inbox (the
`answers` handler passes it on to the conversation), (3) a case-record line, and (4) an email to
the officer (the `staff_appointment_alert` template, through the one send path, like the returned
letter alert). The email never names the client or holds a message: case reference and what to do.

The officer is the appointment's member of staff, else the case's assigned one; no email goes when
neither is active with an address, and the case record says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments.notices import Templates, say_when
from gateway.crypto import Vault
from gateway.db import Appointment, Case, Service, StaffUser
from gateway.db.base import padded
from gateway.domain import Channel, KeyType, RecordKind
from gateway.errors import ApiError
from gateway.outbound import prepare_notification
from gateway.recipients import InvalidRecipient, normalise_email
from gateway.record import NewEntry
from gateway.templating import shared_renderer

ALERT = "staff_appointment_alert"
ACTOR = "gateway:reminders"


@dataclass(frozen=True)
class OfficerTask:
    appointment: Appointment
    what: str  # "asked to reschedule their appointment"
    todo: str  # "Please contact the client to agree a new time."


async def officer_alert_rows(
    session: AsyncSession, vault: Vault, tasks: Sequence[OfficerTask]
) -> tuple[list[dict[str, Any]], list[NewEntry]]:
    """Alert notification rows for `tasks` (to write, then deliver after commit) and a case-record line each."""
    appointments = [t.appointment for t in tasks]
    cases = {
        c.id: c
        for c in (
            await session.scalars(select(Case).where(Case.id.in_(padded({a.case_id for a in appointments}))))
        ).all()
    }
    staff_ids = {a.staff_id for a in appointments if a.staff_id} | {
        c.assigned_staff_id for c in cases.values() if c.assigned_staff_id
    }
    staff = (
        {s.id: s for s in (await session.scalars(select(StaffUser).where(StaffUser.id.in_(padded(staff_ids))))).all()}
        if staff_ids
        else {}
    )
    service_ids = {a.service_id for a in appointments}
    services = {
        s.id: s for s in (await session.scalars(select(Service).where(Service.id.in_(padded(service_ids))))).all()
    }
    templates = await Templates.load(session, service_ids, (ALERT,))
    rows: list[dict[str, Any]] = []
    entries: list[NewEntry] = []
    for task in tasks:
        a = task.appointment
        case = cases.get(a.case_id)
        officer = next(
            (
                s
                for sid in (a.staff_id, case.assigned_staff_id if case else None)
                if sid is not None and (s := staff.get(sid)) is not None and s.active and s.email
            ),
            None,
        )
        note = f"Officer task: the client {task.what}"
        data: dict[str, Any] = {"appointment_id": str(a.id)}
        if officer is None or case is None:
            entries.append(NewEntry(a.case_id, RecordKind.HANDLER, ACTOR, f"{note}; no active officer to alert", data))
            continue
        service = services[a.service_id]
        try:
            prepared = prepare_notification(
                vault=vault,
                renderer=shared_renderer(),
                template=templates.get(a.service_id, ALERT, Channel.EMAIL, "en"),
                channel=Channel.EMAIL,
                recipient=normalise_email(officer.email),
                personalisation={
                    "staff_name": officer.name,
                    "service_name": service.name,
                    "case_reference": case.external_ref,
                    "what": f"the client {task.what}",
                    "when": say_when(a.starts_at, a.time_zone, "en"),
                    "todo": task.todo,
                },
                service_id=a.service_id,
                key_type=KeyType.LIVE,
                sender=service.email_from,
            )
        except (ApiError, InvalidRecipient) as exc:
            why = exc.message if isinstance(exc, ApiError) else str(exc)
            entries.append(
                NewEntry(a.case_id, RecordKind.HANDLER, ACTOR, f"{note}; the alert could not be built: {why}", data)
            )
            continue
        rows.append(prepared.row)
        data["notification_id"] = str(prepared.row["id"])
        entries.append(NewEntry(a.case_id, RecordKind.HANDLER, ACTOR, f"{note}; {officer.name} alerted by email", data))
    return rows, entries


def task_ids(rows: Sequence[dict[str, Any]]) -> list[uuid.UUID]:
    return [r["id"] for r in rows]
