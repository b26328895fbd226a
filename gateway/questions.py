"""Open questions: a notification that expects a reply with given choices.

The appointment and victim features call `expect_reply` when they send something that asks for
an answer ("Reply C to confirm or R to reschedule"; "Reply OK to acknowledge"). The `answers`
handler then resolves the newest open question of that person whose choices match a reply.

Choices are single words compared as the opt-out keywords are (no case, accents or punctuation),
and may not be carrier keywords: "CANCEL" or "YES" as an answer would also opt the person out or
in at the carrier, so `expect_reply` refuses them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import OpenQuestion
from gateway.db.base import new_id, utcnow
from gateway.keywords import KEYWORDS, single_word

DEFAULT_TTL = timedelta(days=14)


class QuestionError(ValueError):
    """A question that cannot be asked as given; the message says why."""


def check_choices(choices: Mapping[str, str]) -> dict[str, str]:
    """Normalised choices, or QuestionError for empty, multi-word, duplicate or reserved ones."""
    if not choices:
        raise QuestionError("a question needs at least one choice")
    out: dict[str, str] = {}
    for raw, meaning in choices.items():
        key = single_word(raw)
        if key is None:
            raise QuestionError(f"choice {raw!r} must be a single word or number")
        if key in KEYWORDS:
            raise QuestionError(f"choice {raw!r} is a carrier keyword (STOP, HELP, YES...); pick another")
        if key in out:
            raise QuestionError(f"choice {raw!r} is given twice")
        if not meaning or len(meaning) > 64:
            raise QuestionError(f"the meaning of choice {raw!r} must be 1 to 64 characters")
        out[key] = meaning
    return out


async def expect_reply(
    session: AsyncSession,
    *,
    service_id: uuid.UUID,
    person_id: uuid.UUID,
    kind: str,
    choices: Mapping[str, str],
    case_id: uuid.UUID | None = None,
    notification_id: uuid.UUID | None = None,
    subject_id: str | None = None,
    expires_at: datetime | None = None,
    flush: bool = True,
) -> OpenQuestion:
    """Record that `person_id` may answer with one of `choices`, in the caller's transaction.

    Asking again about the same `subject_id` (the same appointment) withdraws the earlier
    question, so an old reminder's answer cannot resolve the new one. `flush=False` leaves the row to
    the caller's next flush (its id is set already): a caller asking a thousand at once (the victim
    fan-out) writes them in one statement instead of a thousand.
    """
    checked = check_choices(choices)
    if subject_id is not None:
        await session.execute(
            update(OpenQuestion)
            .where(
                OpenQuestion.service_id == service_id,
                OpenQuestion.person_id == person_id,
                OpenQuestion.kind == kind,
                OpenQuestion.subject_id == subject_id,
                OpenQuestion.state == "open",
            )
            .values(state="withdrawn")
            .execution_options(synchronize_session=False)
        )
    question = OpenQuestion(
        id=new_id(),
        service_id=service_id,
        person_id=person_id,
        case_id=case_id,
        notification_id=notification_id,
        kind=kind,
        subject_id=subject_id,
        choices=checked,
        state="open",
        created_at=utcnow(),
        expires_at=expires_at or utcnow() + DEFAULT_TTL,
    )
    session.add(question)
    if flush:
        await session.flush()
    return question
