"""The boundary: victims belong to a victim-services service; an offender-facing one never sees them.

A person is a victim when they are a victim participant of a case of the service (the same rule as
the staff pages' `victim_people`). In a service that is not victim services, the directory's reads
leave such people out (not returned, not counted) and its writes refuse them with `NotVisible`,
which callers answer exactly like "not found" or a conflict, never naming the reason.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, CaseParticipant, Service
from gateway.domain import ParticipantRole, ServiceKind


class NotVisible(LookupError):
    """The person exists but this service may not see or change them."""


def victim_ids(service_id: uuid.UUID) -> Select[Any]:
    """Ids of people who are victim participants of a case of the service."""
    return (
        select(CaseParticipant.person_id)
        .join(Case, Case.id == CaseParticipant.case_id)
        .where(Case.service_id == service_id, CaseParticipant.role == ParticipantRole.VICTIM.value)
    )


async def hides_victims(session: AsyncSession, service_id: uuid.UUID) -> bool:
    """True unless the service is a victim-services service."""
    kind = await session.scalar(select(Service.kind).where(Service.id == service_id))
    return kind != ServiceKind.VICTIM_SERVICES.value


async def is_hidden_victim(session: AsyncSession, service_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    """True when `person_id` is a victim and the service is not victim services."""
    if not await hides_victims(session, service_id):
        return False
    found = await session.scalar(victim_ids(service_id).where(CaseParticipant.person_id == person_id).limit(1))
    return found is not None


async def hidden_people(session: AsyncSession, service_id: uuid.UUID) -> set[uuid.UUID]:
    """Every person the service may not see (empty for victim services): for bulk work."""
    if not await hides_victims(session, service_id):
        return set()
    return set((await session.scalars(victim_ids(service_id).distinct())).all())
