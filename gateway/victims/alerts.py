"""Staff alerts for victim notices: a notice reached its letter step, or no step could reach the victim.

Job `victims_alert(notice_id, reason)`, enqueued after the escalation's commit (job id per notice and
reason, so one alert each). It emails the VSU case's assigned advocate, or else every active member
of the unit's staff in a victim-data role (`gateway.victim_access.VICTIM_DATA_ROLES`), with the
`staff_victim_notice_alert` template through the one send path. Like the returned-letter alert
(`gateway.letters.alert`, which already alerts on a victim's returned letter) it carries no victim
name or contact detail: the case reference and a link to the outstanding notices page.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.api.intake import insert_notifications
from gateway.db import Case, Service, Template, VictimNotice
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.jobs.delivery import enqueue_deliveries
from gateway.outbound import normalise_recipient, prepare_notification
from gateway.template_store import _row
from gateway.templating import shared_renderer
from gateway.victim_access import victim_staff

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

ALERT = "victims_alert"
TEMPLATE_SLUG = "staff_victim_notice_alert"
WHAT = {
    "letter": "A victim notice was not acknowledged by text, email or call in time, so a letter was sent"
    " (certified when it is the last step). Consider calling the victim.",
    "unreached": "A victim notice could not be sent by any of the victim's channels (no number, address or"
    " substitute address). Reach the victim another way and record it.",
}


async def send_alert(ctx: JobContext, notice_id: str, reason: str) -> str:
    settings, vault = ctx["settings"], ctx["vault"]
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        notice = await session.get(VictimNotice, uuid.UUID(notice_id))
        if notice is None or reason not in WHAT:
            return "nothing to alert"
        service = await session.get(Service, notice.service_id)
        case = await session.get(Case, notice.case_id) if notice.case_id else None
        found = await session.scalar(
            select(Template).where(
                Template.slug == TEMPLATE_SLUG, Template.service_id.is_(None), Template.channel == "email"
            )
        )
        if service is None or found is None:
            return "no alert: no template"
        staff = await victim_staff(session, service)
        chosen = [s for s in staff if case is not None and s.id == case.assigned_staff_id] or staff
        rows = []
        for member in chosen:
            try:
                prepared = prepare_notification(
                    vault=vault,
                    renderer=shared_renderer(),
                    template=_row(found),
                    channel=Channel.EMAIL,
                    recipient=normalise_recipient(Channel.EMAIL, member.email, settings.default_region),
                    personalisation={
                        "staff_name": member.name,
                        "case_reference": case.external_ref if case else "(no case)",
                        "what_happened": WHAT[reason],
                        "notice_url": f"{settings.base_url}/victims/outstanding",
                    },
                    service_id=notice.service_id,
                    key_type=KeyType.LIVE,
                    sender=service.email_from,
                )
            except ApiError:
                continue
            rows.append(prepared.row)
        if rows:
            await insert_notifications(await session.connection(), rows)
        await session.commit()
    await enqueue_deliveries(ctx["queue"], [r["id"] for r in rows])
    return f"alerted {len(rows)}"
