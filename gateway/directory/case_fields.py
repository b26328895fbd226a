"""Validating a case as a caller sends it, and resolving who it names, with every error at once.

`validate_case` checks the shape (field names are the API's: `client`, `assigned_to`, `status`,
`program`, `office`, `tags`, `supervision_level`). `Names` resolves the client (a person's external
id, visible to this service) and the assigned member of staff (by email, active, same service),
loaded once so the import resolves thousands of rows without a query each.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Person, StaffUser
from gateway.directory import fields as f
from gateway.directory.visibility import hidden_people
from gateway.domain import CaseStatus

STATUSES = tuple(s.value for s in CaseStatus)


@dataclass(frozen=True, slots=True)
class CaseInput:
    client: str | None
    assigned_to: str | None  # lower-cased email
    status: str
    program: str | None
    office: str | None
    tags: tuple[str, ...]
    supervision_level: str | None


def validate_case(raw: Mapping[str, Any]) -> CaseInput:
    """Check every field's shape; FieldErrors naming each bad one."""
    errors = f.Collector()
    client = f.text(raw, "client", errors)
    assigned = f.text(raw, "assigned_to", errors)
    status = f.choice(raw, "status", STATUSES, CaseStatus.OPEN.value, errors)
    program, office = f.text(raw, "program", errors), f.text(raw, "office", errors)
    tags = f.text_list(raw, "tags", errors)
    level = f.text(raw, "supervision_level", errors)
    errors.raise_if_any()
    return CaseInput(client, assigned.lower() if assigned else None, status, program, office, tuple(tags), level)


@dataclass(frozen=True, slots=True)
class Staff:
    id: uuid.UUID
    name: str


@dataclass
class Names:
    """People (by external id) and active staff (by lower-cased email) a case may name, in one service."""

    people: dict[str, tuple[uuid.UUID, str]]  # external id -> (person id, display name)
    staff: dict[str, Staff]
    staff_names: dict[uuid.UUID, str]

    def __post_init__(self) -> None:
        self.person_names = {pid: name for pid, name in self.people.values()}

    def resolve(self, new: CaseInput) -> tuple[uuid.UUID | None, uuid.UUID | None]:
        """(client person id, assigned staff id); FieldErrors for a name that is not known here."""
        errors = f.Collector()
        client = assigned = None
        if new.client is not None:
            found = self.people.get(new.client)
            if found is None:
                errors.add("client", f"no person with external id {new.client!r} in this service")
            else:
                client = found[0]
        if new.assigned_to is not None:
            member = self.staff.get(new.assigned_to)
            if member is None:
                errors.add("assigned_to", f"no active member of staff with email {new.assigned_to!r} in this service")
            else:
                assigned = member.id
        errors.raise_if_any()
        return client, assigned


async def load_names(session: AsyncSession, service_id: uuid.UUID, *, external_ids: list[str] | None = None) -> Names:
    """Everything a case may name in the service (or only the people `external_ids`, for one case)."""
    hidden = await hidden_people(session, service_id)
    stmt = select(Person.id, Person.external_id, Person.display_name).where(
        Person.service_id == service_id, Person.external_id.is_not(None)
    )
    if external_ids is not None:
        stmt = stmt.where(Person.external_id.in_(external_ids))
    people = {ext: (pid, name) for pid, ext, name in await session.execute(stmt) if ext and pid not in hidden}
    rows = await session.execute(
        select(StaffUser.id, func.lower(StaffUser.email), StaffUser.name, StaffUser.active).where(
            StaffUser.service_id == service_id
        )
    )
    staff, names = {}, {}
    for sid, email, name, active in rows:
        names[sid] = name
        if active:
            staff[email] = Staff(sid, name)
    return Names(people, staff, names)
