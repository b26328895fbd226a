"""How people and cases look on the wire (`/v2/people`, `/v2/cases`).

A person shows their active contact points, opened (the API caller is the agency's own system,
which sent them); retired points are kept but not shown. A case shows its client by the agency's
external id and its assigned member of staff by email, never internal ids of other tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.present import timestamp
from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, Person, StaffUser
from gateway.directory.contacts import active_points
from gateway.directory.visibility import hidden_people
from gateway.domain import ContactKind, ParticipantRole


async def person(db: AsyncSession, vault: Vault, p: Person) -> dict[str, Any]:
    points = await active_points(db, p.id)
    values = {kind: [vault.open(pt.value_enc) for pt in points if pt.kind == kind.value] for kind in ContactKind}
    address = values[ContactKind.ADDRESS]
    return {
        "id": str(p.id),
        "external_id": p.external_id,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "preferred_name": p.preferred_name,
        "display_name": p.display_name,
        "language": p.language,
        "timezone": p.timezone,
        "phone_numbers": values[ContactKind.PHONE],
        "email_addresses": values[ContactKind.EMAIL],
        "postal_address": address[-1].split("\n") if address else None,
        "preferred_channels": p.preferred_channels,
        "consent": p.consent,
        "created_at": timestamp(p.created_at),
        "updated_at": timestamp(p.updated_at),
        "retired_at": timestamp(p.retired_at),
    }


async def cases(db: AsyncSession, service_id: uuid.UUID, rows: Sequence[Case]) -> list[dict[str, Any]]:
    """The cases as the API shows them: two queries for the whole page (clients, staff)."""
    ids = [c.id for c in rows]
    clients: dict[uuid.UUID, str | None] = {}
    if ids:
        hidden = await hidden_people(db, service_id)
        found = await db.execute(
            select(CaseParticipant.case_id, Person.id, Person.external_id)
            .join(Person, Person.id == CaseParticipant.person_id)
            .where(CaseParticipant.case_id.in_(ids), CaseParticipant.role == ParticipantRole.CLIENT.value)
            .order_by(CaseParticipant.id)
        )
        for case_id, person_id, external_id in found:
            if person_id not in hidden:
                clients.setdefault(case_id, external_id)
    staff_ids = {c.assigned_staff_id for c in rows if c.assigned_staff_id}
    emails: dict[uuid.UUID, str] = {}
    if staff_ids:
        staff = await db.execute(select(StaffUser.id, StaffUser.email).where(StaffUser.id.in_(staff_ids)))
        emails = {staff_id: email for staff_id, email in staff}
    return [
        {
            "id": str(c.id),
            "reference": c.external_ref,
            "client": clients.get(c.id),
            "assigned_to": emails.get(c.assigned_staff_id) if c.assigned_staff_id else None,
            "status": c.status,
            "program": c.program,
            "office": c.office,
            "tags": c.tags,
            "supervision_level": c.supervision_level,
            "created_at": timestamp(c.created_at),
            "updated_at": timestamp(c.updated_at),
            "closed_at": timestamp(c.closed_at),
        }
        for c in rows
    ]
