"""`identify`: who sent this? Contact point (blind index of the sender) → person → open cases.

Every lookup is limited to the message's service: a phone number known to another service is
"unknown" here, so no query ever crosses the compartment boundary.

An email reply comes in at a reply address naming the notification it answers; when that
notification (of this service) was sent to a person, that person is the sender and the
notification's case comes first. Otherwise the address the notification was sent to is looked up
among the service's contact points: the token says who was written to, whereas an email's From is
whatever its sender typed. An address shared by several people (a family phone) identifies
nobody: the message is left for staff rather than filed under the wrong person's case.

An email whose From is not the address its reply token was sent to (`sender_mismatch`) is kept as
an ordinary reply in that conversation, marked "sender does not match the address this reply
token was sent to": anyone who once got an email from the service could otherwise write to their
own reply address with a forged `From: victim@...` and the word STOP, and opt the victim out. Such
a message changes no consent (`opt_out`), answers no question (`answers`) and gets no auto-reply.

One query finds the person, their open cases (newest first), each case's active officer
(`message.officers`) and whether the person is a victim participant (`message.victim`), because
this runs for every message.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BindParameter, ColumnElement, Select, Uuid, and_, bindparam, select

from gateway.db import Case, CaseParticipant, ContactPoint, Notification, Person, StaffUser
from gateway.domain import CaseStatus, Channel, ContactKind, ParticipantRole
from handlers.base import InboundContext, Outcome

CONTACT_KIND = {Channel.SMS: ContactKind.PHONE, Channel.EMAIL: ContactKind.EMAIL}
MAX_ROWS = 50


def _people_with_cases(
    service_id: BindParameter[uuid.UUID], *where: ColumnElement[bool]
) -> Select[Person, Case, StaffUser, str]:
    """Person, open case (or NULL), its active officer (or NULL) and the person's role in a case (or
    NULL), within one service."""
    return (
        select(Person, Case, StaffUser, CaseParticipant.role)
        .outerjoin(CaseParticipant, CaseParticipant.person_id == Person.id)
        .outerjoin(
            Case,
            and_(
                Case.id == CaseParticipant.case_id,
                Case.service_id == service_id,
                Case.status == CaseStatus.OPEN.value,
            ),
        )
        .outerjoin(
            StaffUser,
            and_(
                StaffUser.id == Case.assigned_staff_id,
                StaffUser.service_id == service_id,
                StaffUser.active.is_(True),
            ),
        )
        .where(Person.service_id == service_id, *where)
        .order_by(Case.created_at.desc(), Case.id)
        .limit(MAX_ROWS)
    )


# Built once: this runs for every message, and building the statement costs more than running it.
_SERVICE = bindparam("service_id", type_=Uuid())
BY_CONTACT_POINT = _people_with_cases(
    _SERVICE,
    Person.id.in_(
        select(ContactPoint.person_id).where(
            ContactPoint.service_id == _SERVICE,
            ContactPoint.kind == bindparam("kind"),
            ContactPoint.value_index == bindparam("value_index"),
        )
    ),
)
BY_PERSON = _people_with_cases(_SERVICE, Person.id == bindparam("person_id", type_=Uuid()))
SENDER_MISMATCH = "sender does not match the address this reply token was sent to"


class Identify:
    name = "identify"
    description = "Match the sender to a person and their open cases in this service"

    async def handle(self, message: InboundContext) -> Outcome:
        session, inbound, service_id = message.session, message.inbound, message.service.id
        params: dict[str, object] = {}
        query, how, address_index = BY_CONTACT_POINT, "contact point", inbound.sender_index
        if inbound.reply_to_notification_id is not None:
            message.notification = await session.scalar(
                select(Notification).where(
                    Notification.id == inbound.reply_to_notification_id, Notification.service_id == service_id
                )
            )
            if message.notification is not None and message.notification.person_id is not None:
                query, params = BY_PERSON, {"person_id": message.notification.person_id}
                how = f"reply to notification {message.notification.id}"
            elif message.notification is not None:  # who was written to, not who the From claims to be
                address_index = message.notification.recipient_index
                how = f"address notification {message.notification.id} was sent to"
        prefix = ""
        if inbound.channel is Channel.EMAIL and (
            message.notification is None or message.notification.recipient_index != inbound.sender_index
        ):
            message.sender_mismatch = True
            message.facts["sender_mismatch"] = True
            prefix = f"{SENDER_MISMATCH}; "
        if query is BY_CONTACT_POINT:
            params = {"kind": CONTACT_KIND[inbound.channel].value, "value_index": address_index}
        rows = (await session.execute(query, {"service_id": service_id, **params})).all()
        people = {person.id: person for person, _, _, _ in rows}
        if len(people) > 1:
            message.ambiguous = True
            return Outcome.proceed(f"{prefix}sender's address belongs to {len(people)} people; not matched")
        if not people:
            return Outcome.proceed(f"{prefix}sender not known in this service")
        message.person = next(iter(people.values()))
        message.victim = any(role == ParticipantRole.VICTIM for *_, role in rows)
        cases = {case.id: case for _, case, _, _ in rows if case is not None}  # a person may take part twice
        message.officers = {case.id: staff for _, case, staff, _ in rows if case is not None and staff is not None}
        first = message.notification.case_id if message.notification is not None else None
        # The case of the message being answered comes first; then the newest.
        message.cases = sorted(cases.values(), key=lambda c: c.id != first)
        case_ids = ", ".join(str(c.id) for c in message.cases) or "none"
        return Outcome.proceed(f"{prefix}sender is person {message.person.id} (by {how}); open cases: {case_ids}")
