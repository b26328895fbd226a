"""The alert to a case's staff when one of its letters comes back: an email to the case handler (for a
victim's letter, one allowed victim data, or else the unit's staff who are).

Returned mail matters most for victim notices (a victim who was not told of a release must be
reached another way; victim services escalate on it), so the case's assigned staff member is told
at once, by the email channel the gateway already has (the `staff_returned_letter_alert` template,
sent through the one send path like the inbound-message alert, to the sandbox mailbox in embedded
mode). Like that alert it never holds the letter or the address: it names the case and links to it.

The alert rows are written in the same transaction as the `returned-letter` transition, so a
returned letter has its alert exactly once; delivery is enqueued after the commit (the sweeper
sends it if that enqueue is lost). A letter to a victim whose case has no active handler allowed victim data
(`gateway.victim_access`) alerts every active member of the unit who is (`victim_staff`), as the
victim notice alerts do: a victim who was not reached must not rest on one person's inbox. No alert
goes, and the reason is returned instead, when the letter has no case, or (not a victim's letter)
the case has no active handler, or nobody active may see the victim's data.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import Case, Notification, Service, StaffUser, Template
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.outbound import normalise_recipient, prepare_notification
from gateway.settings import Settings
from gateway.template_store import _row
from gateway.templating import shared_renderer
from gateway.victim_access import can_see_victim_data, is_victim, victim_staff

ALERT_TEMPLATE = uuid.UUID("e0708535-2e45-47d4-9d9a-329d90222086")  # email/en/staff_returned_letter_alert


async def alert_rows(
    session: AsyncSession, vault: Vault, settings: Settings, letters: list[Notification]
) -> tuple[list[dict[str, Any]], dict[uuid.UUID, str]]:
    """Prepared alert notifications for `letters` (just returned), and what happened for each letter."""
    rows: list[dict[str, Any]] = []
    outcome: dict[uuid.UUID, str] = {}
    found = await session.get(Template, ALERT_TEMPLATE)
    template = _row(found) if found is not None and not found.archived else None
    for n in letters:
        if n.case_id is None:
            outcome[n.id] = "no alert: the letter has no case"
            continue
        case = await session.get(Case, n.case_id)
        service = await session.get(Service, n.service_id)
        if case is None or service is None:
            outcome[n.id] = "no alert: the letter has no case"
            continue
        handler = await session.get(StaffUser, case.assigned_staff_id) if case.assigned_staff_id else None
        if handler is not None and not handler.active:
            handler = None
        victim = n.person_id is not None and await is_victim(session, n.service_id, n.person_id)
        if handler is not None and (not victim or can_see_victim_data(handler, service)):
            chosen, who = [handler], "case handler"
        elif not victim:
            outcome[n.id] = "no alert: the case has no active case handler"
            continue
        else:  # a victim must be reached another way: whoever in the unit may see victim data is told
            chosen, who = await victim_staff(session, service), "victim services staff"
            why = "the case has no active case handler" if handler is None else "its handler may not see victim data"
            who += f" ({why})"
            if not chosen:
                outcome[n.id] = f"no alert: the letter went to a victim, {why}, and no active staff may see victim data"
                continue
        made: list[str] = []
        for member in chosen:
            try:
                prepared = prepare_notification(
                    vault=vault,
                    renderer=shared_renderer(),
                    template=template,
                    channel=Channel.EMAIL,
                    recipient=normalise_recipient(Channel.EMAIL, member.email, settings.default_region),
                    personalisation={
                        "staff_name": member.name,
                        "service_name": service.name,
                        "case_reference": case.external_ref,
                        "case_url": f"{settings.base_url}/cases/{quote(case.external_ref, safe='')}",
                    },
                    service_id=n.service_id,
                    key_type=KeyType.LIVE,
                    sender=service.email_from,
                )
            except ApiError as exc:
                outcome[n.id] = f"no alert: {exc.message}"
                continue
            rows.append(prepared.row)
            made.append(str(prepared.row["id"]))
        if made:
            outcome[n.id] = f"{who} alerted by email (notification {', '.join(made)})"
    return rows, outcome
