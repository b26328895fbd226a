"""Open questions: `expect_reply` records what a notification asks; a one-word reply resolves the newest."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.db import OpenQuestion
from gateway.db.base import utcnow
from gateway.questions import QuestionError, check_choices, expect_reply
from tests.inbound.conftest import Enrolled, Gateway, add_person

PHONE = "+12025550143"
APPOINTMENT = {"C": "confirm", "R": "reschedule"}


async def ask(gw: Gateway, person: Enrolled, kind: str, choices: dict[str, str], **extra: object) -> uuid.UUID:
    async with gw.sessions() as session:
        question = await expect_reply(
            session,
            service_id=gw.service.id,
            person_id=person.person_id,
            kind=kind,
            choices=choices,
            case_id=person.case_id,
            **extra,  # type: ignore[arg-type]
        )
        await session.commit()
        return question.id


async def questions(gw: Gateway) -> dict[uuid.UUID, OpenQuestion]:
    async with gw.sessions() as session:
        rows = await session.scalars(select(OpenQuestion).where(OpenQuestion.service_id == gw.service.id))
        return {q.id: q for q in rows}


def test_choices_are_single_words_and_never_carrier_keywords() -> None:
    assert check_choices({"c": "confirm", " R. ": "reschedule", "1": "yes"}) == {
        "C": "confirm",
        "R": "reschedule",
        "1": "yes",
    }
    for bad in ({"STOP": "x"}, {"cancel": "cancel"}, {"yes": "ok"}, {"two words": "x"}, {}, {"c": "a", "C": "b"}):
        with pytest.raises(QuestionError):
            check_choices(bad)


async def test_a_reply_resolves_the_newest_matching_question_and_still_reaches_the_officer(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    older = await ask(gw, person, "victim_acknowledgment", {"OK": "acknowledged"})
    newer = await ask(gw, person, "appointment_confirmation", APPOINTMENT, subject_id="appt-1")
    await gw.text(PHONE, "c")
    await gw.settle()
    found = await questions(gw)
    assert (found[newer].state, found[newer].answer, found[newer].answer_value) == ("answered", "C", "confirm")
    assert found[older].state == "open"
    [message] = await gw.inbound()
    assert found[newer].inbound_id == message.id
    assert [d["handler"] for d in message.decisions] == ["identify", "opt_out", "answers", "victim_ack", "case_handler"]
    assert "confirm" in message.decisions[2]["decision"]
    [entry] = await gw.record(person.case_id)
    assert entry.data["answered_question"] == str(newer)
    [conversation] = await gw.conversations()
    assert conversation.unread_count == 1

    await gw.text(PHONE, "Ok!")
    await gw.settle()
    assert (await questions(gw))[older].answer_value == "acknowledged"


async def test_asking_again_withdraws_and_expired_or_unmatched_replies_resolve_nothing(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    first = await ask(gw, person, "appointment_confirmation", APPOINTMENT, subject_id="appt-2")
    second = await ask(gw, person, "appointment_confirmation", APPOINTMENT, subject_id="appt-2")
    expired = await ask(gw, person, "victim_acknowledgment", {"OK": "acknowledged"}, expires_at=utcnow() - timedelta(1))
    await gw.text(PHONE, "OK")
    await gw.text(PHONE, "maybe")
    await gw.settle()
    found = await questions(gw)
    assert (found[first].state, found[second].state, found[expired].state) == ("withdrawn", "open", "open")
    assert all("no open question" in m.decisions[2]["decision"] for m in await gw.inbound())
