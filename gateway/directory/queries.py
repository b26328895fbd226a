"""Finding cases in one service: by reference, and the filtered list (officer, status, tag, program).

Used by `GET /v2/cases` and by any page that lists a caseload. Every query is limited to the
service. The tag filter reads the JSON list of tags: PostgreSQL's `jsonb ?`, SQLite's `json_each`.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, exists, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, StaffUser
from gateway.directory.case_fields import STATUSES
from gateway.directory.fields import FieldErrors


async def find_case(db: AsyncSession, service_id: uuid.UUID, reference: str) -> Case | None:
    found: Case | None = await db.scalar(
        select(Case).where(Case.service_id == service_id, Case.external_ref == reference)
    )
    return found


async def case_filter(
    db: AsyncSession,
    service_id: uuid.UUID,
    *,
    officer: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    program: str | None = None,
) -> Select[Any]:
    """The service's cases matching every filter given; FieldErrors for a filter that cannot match."""
    stmt = select(Case).where(Case.service_id == service_id)
    errors: dict[str, str] = {}
    if officer is not None:
        email = func.lower(StaffUser.email) == officer.lower()
        staff_id = await db.scalar(select(StaffUser.id).where(StaffUser.service_id == service_id, email))
        if staff_id is None:
            errors["officer"] = f"no member of staff with email {officer!r} in this service"
        stmt = stmt.where(Case.assigned_staff_id == staff_id)
    if status is not None:
        if status not in STATUSES:
            errors["status"] = f"{status!r} is not one of {', '.join(STATUSES)}"
        stmt = stmt.where(Case.status == status)
    if program is not None:
        stmt = stmt.where(Case.program == program)
    if tag is not None:
        stmt = stmt.where(has_tag(db, tag))
    if errors:
        raise FieldErrors(errors)
    return stmt


def has_tag(db: AsyncSession, tag: str) -> Any:
    """`Case.tags` (a JSON list) holds `tag`."""
    if db.get_bind().dialect.name == "postgresql":
        return text("CAST(cases.tags AS jsonb) ? :tag").bindparams(tag=tag)
    each = func.json_each(Case.tags).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == tag))
