"""How appointments look on the wire (`/v2/appointments`): names by the agency's ids, never internal ids
of other tables; `starts_at` in UTC and `local_starts_at` on the appointment's own clock. Staff
notes are opened: the API caller is the agency's own system, which sent them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.present import timestamp
from gateway.crypto import Vault
from gateway.db import Appointment, Case, Person, StaffUser
from gateway.localtime import to_local


async def appointments(db: AsyncSession, vault: Vault, rows: Sequence[Appointment]) -> list[dict[str, Any]]:
    """The appointments as the API shows them: three queries for the whole page (cases, people, staff)."""
    refs = await _names(db, Case.id, Case.external_ref, {a.case_id for a in rows})
    people = await _names(db, Person.id, Person.external_id, {a.person_id for a in rows})
    staff = await _names(db, StaffUser.id, StaffUser.email, {a.staff_id for a in rows if a.staff_id})
    return [
        {
            "id": str(a.id),
            "external_id": a.external_id,
            "case_reference": refs.get(a.case_id),
            "person": people.get(a.person_id),
            "kind": a.kind,
            "title": a.title,
            "starts_at": timestamp(a.starts_at),
            "local_starts_at": to_local(a.starts_at, a.time_zone).isoformat(),
            "time_zone": a.time_zone,
            "duration_minutes": a.duration_minutes,
            "location_kind": a.location_kind,
            "location": a.location,
            "staff": staff.get(a.staff_id) if a.staff_id else None,
            "bring": a.bring,
            "notes": vault.open(a.notes_enc) if a.notes_enc else None,
            "status": a.status,
            "status_at": timestamp(a.status_at),
            "sequence": a.sequence,
            "previous_starts_at": timestamp(a.previous_starts_at),
            "moved_at": timestamp(a.moved_at),
            "source": a.source,
            "created_at": timestamp(a.created_at),
            "updated_at": timestamp(a.updated_at),
        }
        for a in rows
    ]


async def _names(db: AsyncSession, key: Any, value: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    if not ids:
        return {}
    return {k: v for k, v in await db.execute(select(key, value).where(key.in_(ids)))}
