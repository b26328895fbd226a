"""The fan-out: one offender event → a notice to every registration that follows the case and wants the kind.

`fan_out(ctx, event_id)` is a job on the priority lane (enqueued by the event API after its commit,
and by the sweeper for an event left without `fanned_out_at`). In ONE transaction it finds the
registrations (active, following this service's case, in a unit that still follows the service,
wanting the event's group), writes a `VictimNotice` for each that has none yet (unique per event and
registration, so running twice writes nothing twice), sends each one's first step
(`gateway.victims.sending`), invites to a victim impact statement for `vis_deadline`, and marks the
event fanned out. Then `dispatch` enqueues delivery, calls and staff alerts.

Nothing here is logged or returned with a count of victims for the offender-facing side: the job's
result names the event only, and its log line carries no count (the worker's job log is shared).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select

from gateway.db import (
    OffenderEvent,
    Person,
    Service,
    VictimFollowedCase,
    VictimNotice,
    VictimRegistration,
    VictimServiceLink,
)
from gateway.db.write_lock import write_lock
from gateway.jobs.delivery import DELIVER_BATCH, deliver_batch
from gateway.victims.kinds import KINDS, template_values, wants
from gateway.victims.sending import Outgoing, Sender, plan_for
from gateway.victims.statements import invite
from gateway.victims.voice import CALL, call_job_id

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
ALERT = "victims_alert"


def base_values(service: Service, person: Person, offender_name: str, reference: str) -> dict[str, str]:
    """What every victim template is given, whatever the kind."""
    phone = service.sms_sender if service.sms_sender and service.sms_sender.startswith("+") else ""
    return {
        "victim_name": person.preferred_name or person.first_name or person.display_name,
        "offender_name": offender_name,
        "case_reference": reference,
        "vsu_name": service.name,
        "vsu_phone": phone,
    }


async def fan_out(ctx: JobContext, event_id: str) -> str:
    now = ctx["clock"].now()
    out = Outgoing()
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        event = await session.get(OffenderEvent, uuid.UUID(event_id))
        if event is None or event.fanned_out_at is not None:
            return f"event {event_id}: nothing to do"
        kind = KINDS[event.kind]
        rows = (
            await session.execute(
                select(VictimFollowedCase, VictimRegistration, Person)
                .join(VictimRegistration, VictimRegistration.id == VictimFollowedCase.registration_id)
                .join(Person, Person.id == VictimRegistration.person_id)
                .join(
                    VictimServiceLink,
                    (VictimServiceLink.vsu_service_id == VictimRegistration.service_id)
                    & (VictimServiceLink.offender_service_id == VictimFollowedCase.offender_service_id),
                )
                .where(
                    VictimFollowedCase.offender_service_id == event.service_id,
                    VictimFollowedCase.case_reference == event.case_reference,
                    VictimRegistration.status == "active",
                    Person.retired_at.is_(None),
                )
            )
        ).all()
        done = set(
            (await session.scalars(select(VictimNotice.registration_id).where(VictimNotice.event_id == event.id))).all()
        )
        services: dict[uuid.UUID, Service] = {}
        notices: list[VictimNotice] = []
        for followed, reg, person in rows:
            if reg.id in done or not wants(reg.events, kind):
                continue
            done.add(reg.id)
            if reg.service_id not in services:
                found = await session.get(Service, reg.service_id)
                assert found is not None
                services[reg.service_id] = found
            values = base_values(services[reg.service_id], person, followed.offender_name, event.case_reference)
            values.update(template_values(kind, event.details, reg.language))
            notices.append(
                VictimNotice(
                    id=uuid.uuid4(),
                    service_id=reg.service_id,
                    event_id=event.id,
                    registration_id=reg.id,
                    person_id=person.id,
                    case_id=followed.vsu_case_id,
                    kind=kind.name,
                    urgent=event.urgent,
                    language=reg.language,
                    personalisation=values,
                    plan=plan_for(reg.channels),
                    step=0,
                    state="open",
                    created_at=now,
                    updated_at=now,
                )
            )
        session.add_all(notices)
        await session.flush()
        if notices:
            out = await Sender(session, ctx["vault"], ctx["settings"], now).send_steps(notices)
            if kind.name == "vis_deadline":
                await invite(session, event, notices, now)
        event.fanned_out_at = now
        await session.commit()
    await dispatch(ctx, out, inline=True)
    log.info("victims.fan_out", event_id=event_id)
    return f"event {event_id}: fanned out"


async def dispatch(ctx: JobContext, out: Outgoing, *, inline: bool = False) -> None:
    """After the commit: delivery and calls on the priority lane; staff alerts.

    `inline` (the fan-out job, where the process has senders): the notifications are delivered by this
    job itself, batch by batch concurrently, through the one delivery path (`deliver_batch`), instead of
    as new jobs: under a bulk load every job slot of a worker may be busy for seconds, and a fan-out
    that already holds one should not wait for another. Elsewhere they are enqueued on the priority lane.
    """
    queue, size = ctx["queue"], ctx["settings"].delivery_batch_size
    ids = [str(i) for i in out.notifications]
    batches = [ids[at : at + size] for at in range(0, len(ids), size)]
    if inline and ctx.get("senders"):
        await asyncio.gather(*(deliver_batch(ctx, *batch) for batch in batches))
        batches = []
    for batch in batches:
        await queue.enqueue(DELIVER_BATCH, *batch, job_id=f"deliver-batch:{batch[0]}", priority=True)
    for call_id, defer in out.calls:
        await queue.enqueue(CALL, str(call_id), job_id=call_job_id(call_id, 1), defer_by=defer or None, priority=True)
    for notice_id in out.letter_steps:
        await queue.enqueue(ALERT, str(notice_id), "letter", job_id=f"victims-alert:{notice_id}:letter")
    for notice_id in out.unreached:
        await queue.enqueue(ALERT, str(notice_id), "unreached", job_id=f"victims-alert:{notice_id}:unreached")
