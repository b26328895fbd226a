"""`answers`: a one-word reply to an open question (appointment confirmation, victim acknowledgment).

Questions are written by `gateway.questions.expect_reply` when a notification asks for an answer.
A reply from that person that is one of the choices of an open, unexpired question resolves the
newest such question: it is marked answered with the choice, its meaning and the inbound
message's id. The feature that asked (appointments, victim notifications) reads that row.

An answer to an appointment question (kind "appointment") changes the appointment at once:
`gateway.appointments.replies.appointment_answered` (confirm, or reschedule with an officer task).

The message then goes on to the person's conversation: an answer such as "R" (reschedule) is
often something the officer has to act on, and the inbox is where they see it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select

from gateway.appointments.planning import QUESTION_KIND as APPOINTMENT_QUESTION
from gateway.appointments.replies import appointment_answered
from gateway.db import OpenQuestion
from gateway.db.base import utcnow
from gateway.jobs.delivery import DELIVER, delivery_job_id
from gateway.keywords import single_word
from handlers.base import InboundContext, Outcome
from handlers.identify import SENDER_MISMATCH

MAX_ANSWER_CHARS = 32
LOOK_BACK = 20  # open questions considered per reply, newest first


class Answers:
    name = "answers"
    description = "Resolve the person's newest open question that this one-word reply answers"

    async def handle(self, message: InboundContext) -> Outcome:
        if message.person is None:
            return Outcome.proceed("no person identified, so no open question")
        if message.sender_mismatch:
            return Outcome.proceed(f"not taken as an answer: {SENDER_MISMATCH}")
        body = message.inbound.body
        word = single_word(body) if len(body) <= MAX_ANSWER_CHARS else None
        if word is None:
            return Outcome.proceed("not a one-word answer")
        now = utcnow()
        questions = (
            await message.session.scalars(
                select(OpenQuestion)
                .where(
                    OpenQuestion.service_id == message.service.id,
                    OpenQuestion.person_id == message.person.id,
                    OpenQuestion.state == "open",
                    or_(OpenQuestion.expires_at.is_(None), OpenQuestion.expires_at > now),
                )
                .order_by(OpenQuestion.created_at.desc())
                .limit(LOOK_BACK)
                .with_for_update()
            )
        ).all()
        question = next((q for q in questions if word in q.choices), None)
        if question is None:
            return Outcome.proceed("no open question has this answer as a choice" if questions else "no open question")
        question.state = "answered"
        question.answer = word
        question.answer_value = question.choices[word]
        question.answered_at = now
        question.inbound_id = message.inbound.id
        if question.case_id is not None:
            # File the message under the question's case first (when it is one of the open cases).
            message.cases.sort(key=lambda c: c.id != question.case_id)
        message.facts["answered_question"] = str(question.id)
        decision = f"answered {question.kind} question {question.id}: {question.answer_value}"
        if question.kind == APPOINTMENT_QUESTION:
            answered = await appointment_answered(message.session, message.vault, question)
            self._deliver_after_commit(message, answered.send_now)
            decision += f"; {answered.decision}"
        return Outcome.proceed(decision)

    @staticmethod
    def _deliver_after_commit(message: InboundContext, ids: list[uuid.UUID]) -> None:
        queue = message.queue
        if queue is None or not ids:
            return

        async def deliver() -> None:
            for nid in ids:
                await queue.enqueue(DELIVER, str(nid), job_id=delivery_job_id(nid))

        message.after_commit(deliver)
