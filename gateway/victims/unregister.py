"""Unregistering a victim: the registration stays (history) but follows nothing more, and says so.

The registration becomes `unregistered`; its open notices stop escalating (state `closed`) and their
calls stop; a confirmation (`unregistered` kind, an informational notice asking nothing) goes to the
victim on their first channel that works. A second DELETE changes nothing and sends nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Person, Service, VictimFollowedCase, VictimNotice, VictimRegistration
from gateway.victims.fanout import base_values
from gateway.victims.sending import Outgoing, Sender

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext


async def unregister(
    session: AsyncSession,
    ctx: JobContext,
    reg: VictimRegistration,
    person: Person,
    actor: str,
    *,
    send_confirmation: bool = True,
) -> tuple[bool, Outgoing | None]:
    """(changed, what to dispatch after the commit) in the caller's transaction."""
    if reg.status == "unregistered":
        return False, None
    now = ctx["clock"].now()
    reg.status, reg.unregistered_at, reg.updated_at = "unregistered", now, now
    await session.execute(
        update(VictimNotice)
        .where(VictimNotice.registration_id == reg.id, VictimNotice.state.in_(("open", "unreached")))
        .values(state="closed", due_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not send_confirmation:
        return True, None
    service = await session.get(Service, reg.service_id)
    assert service is not None
    followed = await session.scalar(
        select(VictimFollowedCase).where(VictimFollowedCase.registration_id == reg.id).limit(1)
    )
    notice = VictimNotice(
        service_id=reg.service_id,
        registration_id=reg.id,
        person_id=person.id,
        case_id=followed.vsu_case_id if followed else None,
        kind="unregistered",
        language=reg.language,
        personalisation=base_values(service, person, followed.offender_name if followed else "-", "-"),
        plan=list(dict.fromkeys("letter" if c.startswith("letter") else c for c in reg.channels if c != "voice")),
        step=0,
        state="info",
        created_at=now,
        updated_at=now,
    )
    session.add(notice)
    await session.flush()
    out = await Sender(session, ctx["vault"], ctx["settings"], now).send_steps([notice])
    return True, out
