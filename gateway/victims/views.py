"""What the VSU's pages show: registrations, one victim's timeline, outstanding acknowledgments.

Every query here takes the unit's service id and reads only its rows; the pages check the viewer
may see victim data and audit the view (`gateway.web.access.open_victim_data`) before calling.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import (
    Case,
    Notification,
    OffenderEvent,
    Person,
    VictimCall,
    VictimFollowedCase,
    VictimNotice,
    VictimNoticeStep,
    VictimRegistration,
    VictimStatement,
)

OUTSTANDING = ("open", "unreached")
KIND_WORDS = {
    "released": "Released",
    "escaped": "Escaped",
    "recaptured": "Back in custody",
    "died": "Died",
    "transferred": "Transferred",
    "hearing_scheduled": "Hearing scheduled",
    "hearing_result": "Hearing result",
    "classification": "Classification",
    "registration_status": "Registration status",
    "address_changed": "Address changed",
    "vis_deadline": "Impact statement invitation",
    "vis_reminder": "Impact statement reminder",
    "unregistered": "Unregistered (confirmation)",
}
STATE_WORDS = {
    "open": "Waiting for acknowledgment",
    "acknowledged": "Acknowledged",
    "unreached": "Could not be sent: reach them another way",
    "info": "Sent (no acknowledgment asked)",
    "closed": "Closed (unregistered)",
}
CHANNEL_WORDS = {
    "sms": "Text",
    "email": "Email",
    "voice": "Call",
    "letter": "Letter",
    "letter:certified": "Certified letter",
}


@dataclass
class RegistrationRow:
    person_id: uuid.UUID
    name: str
    external_id: str | None
    channels: list[str]
    confidential: bool
    status: str
    cases: list[str]
    outstanding: int


async def registrations(session: AsyncSession, service_id: uuid.UUID) -> list[RegistrationRow]:
    rows = (
        await session.execute(
            select(VictimRegistration, Person)
            .join(Person, Person.id == VictimRegistration.person_id)
            .where(VictimRegistration.service_id == service_id)
            .order_by(Person.display_name)
        )
    ).all()
    follows = (
        await session.execute(
            select(
                VictimFollowedCase.registration_id, VictimFollowedCase.case_reference, VictimFollowedCase.offender_name
            )
            .join(VictimRegistration, VictimRegistration.id == VictimFollowedCase.registration_id)
            .where(VictimRegistration.service_id == service_id)
        )
    ).all()
    open_counts: dict[uuid.UUID, int] = {}
    for (reg_id,) in await session.execute(
        select(VictimNotice.registration_id).where(
            VictimNotice.service_id == service_id, VictimNotice.state.in_(OUTSTANDING)
        )
    ):
        open_counts[reg_id] = open_counts.get(reg_id, 0) + 1
    cases: dict[uuid.UUID, list[str]] = {}
    for reg_id, ref, name in follows:
        cases.setdefault(reg_id, []).append(f"{name} ({ref})")
    return [
        RegistrationRow(
            person.id,
            person.display_name,
            person.external_id,
            list(reg.channels),
            reg.confidential,
            reg.status,
            cases.get(reg.id, []),
            open_counts.get(reg.id, 0),
        )
        for reg, person in rows
    ]


@dataclass
class StepView:
    step: int
    channel: str
    at: datetime
    status: str  # the notification's status, the call's state, or why it was skipped


@dataclass
class NoticeView:
    id: uuid.UUID
    kind: str
    state: str
    urgent: bool
    created_at: datetime
    due_at: datetime | None
    acknowledged_at: datetime | None
    ack_via: str | None
    case_reference: str | None
    steps: list[StepView] = field(default_factory=list)

    @property
    def outstanding(self) -> bool:
        return self.state in OUTSTANDING


async def notices_of(
    session: AsyncSession, service_id: uuid.UUID, *, registration_id: uuid.UUID | None = None, outstanding: bool = False
) -> list[NoticeView]:
    stmt = (
        select(VictimNotice, Case.external_ref)
        .outerjoin(Case, Case.id == VictimNotice.case_id)
        .where(VictimNotice.service_id == service_id)
        .order_by(VictimNotice.created_at.desc())
        .limit(500)
    )
    if registration_id is not None:
        stmt = stmt.where(VictimNotice.registration_id == registration_id)
    if outstanding:
        stmt = stmt.where(VictimNotice.state.in_(OUTSTANDING))
    rows = (await session.execute(stmt)).all()
    views = {
        n.id: NoticeView(n.id, n.kind, n.state, n.urgent, n.created_at, n.due_at, n.acknowledged_at, n.ack_via, ref)
        for n, ref in rows
    }
    if not views:
        return []
    steps = (
        await session.execute(
            select(VictimNoticeStep, Notification.status, VictimCall.state)
            .outerjoin(Notification, Notification.id == VictimNoticeStep.notification_id)
            .outerjoin(VictimCall, VictimCall.id == VictimNoticeStep.call_id)
            .where(VictimNoticeStep.notice_id.in_(list(views)))
            .order_by(VictimNoticeStep.step)
        )
    ).all()
    for step, status, call_state in steps:
        shown = (step.outcome and f"skipped: {step.outcome}") or status or (f"call {call_state}" if call_state else "")
        views[step.notice_id].steps.append(StepView(step.step, step.channel, step.created_at, shown))
    return list(views.values())


async def statements_of(
    session: AsyncSession, service_id: uuid.UUID, registration_id: uuid.UUID
) -> list[VictimStatement]:
    return list(
        (
            await session.scalars(
                select(VictimStatement)
                .where(VictimStatement.service_id == service_id, VictimStatement.registration_id == registration_id)
                .order_by(VictimStatement.deadline)
            )
        ).all()
    )


async def notice_person(session: AsyncSession, service_id: uuid.UUID, notice_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(
        select(VictimNotice.person_id).where(VictimNotice.id == notice_id, VictimNotice.service_id == service_id)
    )


async def event_of(session: AsyncSession, notice: VictimNotice) -> OffenderEvent | None:
    return await session.get(OffenderEvent, notice.event_id) if notice.event_id else None
