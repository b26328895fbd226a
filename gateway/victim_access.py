"""The one rule for victim data, for every layer: staff pages, the handler chain, exports.

Victim data is visible only in a victim-services service, to its own staff, in a role allowed it
(victim advocate, supervisor, admin). A person is a victim when they are a victim participant of a
case of the service. Whatever would reveal a victim or their activity (their conversation, a link
to them, a case record entry about them) follows the same rule; `gateway.web.access` applies it
to pages and audits each view.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, CaseParticipant, StaffUser
from gateway.domain import ParticipantRole, Role, ServiceKind

VICTIM_DATA_ROLES = frozenset({Role.VICTIM_ADVOCATE, Role.SUPERVISOR, Role.ADMIN})


class HasRoles(Protocol):
    @property
    def roles(self) -> Collection[str]: ...

    @property
    def service_id(self) -> uuid.UUID: ...


class HasKind(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def kind(self) -> str: ...


def can_see_victim_data(user: HasRoles, service: HasKind) -> bool:
    """The one rule for victim data: a victim-services service, its own staff, and a role allowed it."""
    return (
        service.kind == ServiceKind.VICTIM_SERVICES
        and user.service_id == service.id
        and any(role in VICTIM_DATA_ROLES for role in user.roles)
    )


async def victim_staff(session: AsyncSession, service: HasKind) -> list[StaffUser]:
    """The active staff of `service` who may see its victim data: whom a victim matter falls to when no
    case handler allowed it can take it (alerts on victim notices and on a victim's returned letter)."""
    staff = (
        await session.scalars(
            select(StaffUser).where(StaffUser.service_id == service.id, StaffUser.active).order_by(StaffUser.name)
        )
    ).all()
    return [s for s in staff if can_see_victim_data(s, service)]


def victim_people(service_id: uuid.UUID) -> Select[Any]:
    """Ids of people who are victim participants of a case of the service."""
    return (
        select(CaseParticipant.person_id)
        .join(Case, Case.id == CaseParticipant.case_id)
        .where(Case.service_id == service_id, CaseParticipant.role == ParticipantRole.VICTIM.value)
    )


async def is_victim(db: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    """Whether the person is a victim participant of a case of the service."""
    found = await db.scalar(victim_people(service_id).where(CaseParticipant.person_id == person_id).limit(1))
    return found is not None
