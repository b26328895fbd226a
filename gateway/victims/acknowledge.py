"""Acknowledgment of a victim notice: a text reply, the signed email link, a keypress, or staff.

Each way ends in `acknowledge`, which changes an `open` (or `unreached`) notice to `acknowledged`
once, with how (`ack_via`) and by whom (`ack_by`: "victim", or the staff member), and stops its
escalation: nothing more is sent for it. Acknowledging again changes nothing.

* Text: the notice's question (`expect_reply`, kind `victim_notice`, choice OK) is answered by the
  `answers` handler; the `victim_ack` handler right after it (`handlers/victim_ack.py`) calls
  `acknowledge_answered`. The sweeper checks the question too before escalating, so a reply is never
  missed.
* Email: `ack_url` is a signed link (`gateway.signed_ids`, purpose `victim-ack:`) naming the notice;
  its page (`gateway.web.victims_ack`) shows a button, and only the POST acknowledges, because mail
  scanners follow links.
* Voice: a key pressed in the call (`gateway.victims.voice`).
* Staff: a letter's receipt or a phone call, recorded on the victim's page.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import OpenQuestion, VictimNotice, VictimNoticeStep
from gateway.domain import RecordKind
from gateway.record import NewEntry, append_many
from gateway.signed_ids import read_signed_id, sign_id

QUESTION_KIND = "victim_notice"
ACK_CHOICES = {"OK": "acknowledged"}
PURPOSE = b"victim-ack:"
PATH = "/victims/ack/"
VIA = ("sms-reply", "email-link", "keypress", "staff-letter", "staff-phone")
VIA_WORDS = {
    "sms-reply": "replied to the text",
    "email-link": "clicked the link in the email",
    "keypress": "pressed a key in the call",
    "staff-letter": "staff recorded that the letter was received",
    "staff-phone": "staff recorded a phone call",
}


def ack_url(base_url: str, vault: Vault, notice_id: uuid.UUID) -> str:
    return f"{base_url.rstrip('/')}{PATH}{sign_id(vault, PURPOSE, notice_id)}"


def notice_of_token(vault: Vault, token: str) -> uuid.UUID | None:
    return read_signed_id(vault, PURPOSE, token)


async def acknowledge(
    session: AsyncSession,
    notice_id: uuid.UUID,
    *,
    via: str,
    by: str,
    now: datetime,
    service_id: uuid.UUID | None = None,
) -> bool:
    """Mark the notice acknowledged (True) or find it already so / not open (False), in the caller's
    transaction, with a case-record entry on the VSU case. `service_id` scopes a staff action."""
    if via not in VIA:
        raise ValueError(f"unknown acknowledgment {via!r}")
    stmt = (
        update(VictimNotice)
        .where(VictimNotice.id == notice_id, VictimNotice.state.in_(("open", "unreached")))
        .values(state="acknowledged", acknowledged_at=now, ack_via=via, ack_by=by[:255], due_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if service_id is not None:
        stmt = stmt.where(VictimNotice.service_id == service_id)
    result = await session.execute(stmt)
    if not getattr(result, "rowcount", 0):
        return False
    # Questions of the notice's other steps are withdrawn: a late "OK" then answers nothing stale.
    await session.execute(
        update(OpenQuestion)
        .where(
            OpenQuestion.state == "open",
            OpenQuestion.id.in_(
                select(VictimNoticeStep.question_id).where(
                    VictimNoticeStep.notice_id == notice_id, VictimNoticeStep.question_id.is_not(None)
                )
            ),
        )
        .values(state="withdrawn")
        .execution_options(synchronize_session=False)
    )
    notice = await session.get(VictimNotice, notice_id, populate_existing=True)
    if notice is not None and notice.case_id is not None:
        await append_many(
            session,
            [
                NewEntry(
                    notice.case_id,
                    RecordKind.HANDLER,
                    by if by.startswith("staff:") else "victim",
                    f"Victim notice ({notice.kind.replace('_', ' ')}) acknowledged: {VIA_WORDS[via]}",
                    {"notice_id": str(notice_id), "via": via},
                )
            ],
        )
    return True


async def acknowledge_answered(session: AsyncSession, question_id: uuid.UUID, now: datetime) -> uuid.UUID | None:
    """The notice whose text question was just answered, acknowledged; None if the question is no notice's."""
    question = await session.get(OpenQuestion, question_id)
    if question is None or question.kind != QUESTION_KIND or question.state != "answered":
        return None
    notice_id = await session.scalar(
        select(VictimNoticeStep.notice_id).where(VictimNoticeStep.question_id == question_id)
    )
    if notice_id is None:
        return None
    await acknowledge(session, notice_id, via="sms-reply", by="victim", now=now, service_id=question.service_id)
    return notice_id
