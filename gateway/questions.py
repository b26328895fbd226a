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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, update
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


@dataclass(frozen=True)
class Ask:
    """One question for `expect_replies`: as `expect_reply`'s arguments."""

    service_id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    subject_id: str
    case_id: uuid.UUID | None = None
    notification_id: uuid.UUID | None = None
    expires_at: datetime | None = None


async def expect_replies(session: AsyncSession, asks: Sequence[Ask], choices: Mapping[str, str]) -> int:
    """`expect_reply` for many questions with the same choices, in two statements (the reminders a
    delivery batch sends): each withdraws the open questions of its kind about its subject first.
    When one subject is asked twice in `asks`, the later ask is the open one. Returns how many."""
    if not asks:
        return 0
    checked = check_choices(choices)
    by_subject = {(a.service_id, a.person_id, a.kind, a.subject_id): a for a in asks}
    for kind in {a.kind for a in asks}:
        await session.execute(
            update(OpenQuestion)
            .where(
                # service and person first: the open-questions index (service, person, state) finds them
                OpenQuestion.service_id.in_({a.service_id for a in by_subject.values() if a.kind == kind}),
                OpenQuestion.person_id.in_({a.person_id for a in by_subject.values() if a.kind == kind}),
                OpenQuestion.state == "open",
                OpenQuestion.kind == kind,
                OpenQuestion.subject_id.in_({a.subject_id for a in by_subject.values() if a.kind == kind}),
            )
            .values(state="withdrawn")
            .execution_options(synchronize_session=False)
        )
    now = utcnow()
    await session.execute(
        insert(OpenQuestion),
        [
            {
                "id": new_id(),
                "service_id": a.service_id,
                "person_id": a.person_id,
                "case_id": a.case_id,
                "notification_id": a.notification_id,
                "kind": a.kind,
                "subject_id": a.subject_id,
                "choices": checked,
                "state": "open",
                "created_at": now,
                "expires_at": a.expires_at or now + DEFAULT_TTL,
                "answered_at": None,
                "answer": None,
                "answer_value": None,
                "inbound_id": None,
            }
            for a in by_subject.values()
        ],
    )
    return len(by_subject)
