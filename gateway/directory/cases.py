"""Cases: validate, compare with what is stored, write only what changed, record it.

The same flow as `gateway.directory.people`: `case_fields.validate_case` and `Names.resolve` check
everything first (FieldErrors), `load_cases` reads what is stored, `plan_case` compares, and
`write_cases` / `case_entries` write the plans with Core statements and one record entry per case
naming the fields that changed. A new assigned member of staff is a transfer: an ASSIGNMENT entry
naming both people, and the case's conversations (and its client's) move to the new officer, as
the case page's transfer does. A case's client is set once; a different client later is refused
(two people found to be one are merged instead). Closing sets `closed_at`; reopening clears it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Case, CaseParticipant, Conversation
from gateway.db.base import utcnow
from gateway.directory.case_fields import CaseInput, Names, load_names, validate_case
from gateway.directory.fields import FieldErrors
from gateway.directory.people import CHUNK, describe
from gateway.domain import CaseStatus, ParticipantRole, RecordKind
from gateway.record import NewEntry, append_many

CASES = cast(Table, Case.__table__)
PARTICIPANTS = cast(Table, CaseParticipant.__table__)
CONVERSATIONS = cast(Table, Conversation.__table__)
VALUES = ("assigned_staff_id", "status", "program", "office", "tags", "supervision_level")
FIELD_OF = {"assigned_staff_id": "assigned_to"}
MAX_REFERENCE = 128


@dataclass(slots=True)
class CaseState:
    id: uuid.UUID
    values: dict[str, Any]  # VALUES
    closed_at: datetime | None
    client_id: uuid.UUID | None = None


@dataclass(slots=True)
class CasePlan:
    case_id: uuid.UUID
    reference: str
    created: bool
    changed: list[str]
    values: dict[str, Any]
    client_id: uuid.UUID | None
    add_client: bool
    transfer: tuple[uuid.UUID | None, uuid.UUID | None] | None = None  # (from, to) staff ids
    record: list[NewEntry] = field(default_factory=list)


def check_reference(value: str) -> str:
    if not value or len(value) > MAX_REFERENCE or "\x00" in value or value != value.strip():
        raise FieldErrors({"reference": f"must be 1 to {MAX_REFERENCE} characters, without spaces at either end"})
    return value


async def load_cases(
    session: AsyncSession, service_id: uuid.UUID, references: Sequence[str] | None = None
) -> dict[str, CaseState]:
    """Stored cases of the service (all, or those named), by reference, with their client."""
    stmt = select(CASES.c.id, CASES.c.external_ref, CASES.c.closed_at, *(CASES.c[n] for n in VALUES)).where(
        CASES.c.service_id == service_id
    )
    if references is not None:
        stmt = stmt.where(CASES.c.external_ref.in_(list(references)))
    states = {}
    by_id = {}
    for row in await session.execute(stmt):
        states[row.external_ref] = by_id[row.id] = CaseState(
            row.id, {n: getattr(row, n) for n in VALUES}, row.closed_at
        )
    clients = (
        select(PARTICIPANTS.c.case_id, PARTICIPANTS.c.person_id)
        .join(CASES, CASES.c.id == PARTICIPANTS.c.case_id)
        .where(CASES.c.service_id == service_id, PARTICIPANTS.c.role == ParticipantRole.CLIENT.value)
        .order_by(PARTICIPANTS.c.id)
    )
    if references is not None:
        clients = clients.where(CASES.c.external_ref.in_(list(references)))
    for case_id, person_id in await session.execute(clients):
        if case_id in by_id and by_id[case_id].client_id is None:
            by_id[case_id].client_id = person_id
    return states


def plan_case(
    service_id: uuid.UUID,
    reference: str,
    state: CaseState | None,
    new: CaseInput,
    names: Names,
    actor: str,
) -> CasePlan:
    """Compare; FieldErrors for names not known here or a changed client. Builds the record entries."""
    client_id, staff_id = names.resolve(new)
    if state is not None and state.client_id is not None and client_id != state.client_id:
        raise FieldErrors({"client": "a case's client cannot be changed; merge the two people instead"})
    now = utcnow()
    values: dict[str, Any] = {
        "assigned_staff_id": staff_id,
        "status": new.status,
        "program": new.program,
        "office": new.office,
        "tags": list(new.tags),
        "supervision_level": new.supervision_level,
    }
    case_id = state.id if state else uuid.uuid4()
    changed = ["created"] if state is None else [n for n in VALUES if _differs(state.values[n], values[n])]
    add_client = client_id is not None and (state is None or state.client_id is None)
    if state is not None and add_client:
        changed.append("client")
    closed_at = state.closed_at if state else None
    if new.status == CaseStatus.CLOSED.value and closed_at is None:
        closed_at = now
    elif new.status == CaseStatus.OPEN.value:
        closed_at = None
    values.update(updated_at=now, closed_at=closed_at)
    if state is None:
        values.update(id=case_id, service_id=service_id, external_ref=reference, created_at=now)
    plan = CasePlan(case_id, reference, state is None, changed, values, client_id, add_client)
    client = names.person_names.get(client_id) if client_id else None
    staff_name = names.staff_names.get(staff_id) if staff_id else None
    if state is None:
        who = f" for {client}" if client else ""
        to = f", assigned to {staff_name}" if staff_name else ""
        plan.record.append(_entry(case_id, actor, f"Case {reference} opened{who}{to}", reference, changed))
        return plan
    details = [FIELD_OF.get(n, n) for n in changed if n != "assigned_staff_id"]
    if details:
        plan.record.append(_entry(case_id, actor, f"Case details changed: {describe(details)}", reference, details))
    if "assigned_staff_id" in changed:
        before = state.values["assigned_staff_id"]
        plan.transfer = (before, staff_id)
        was = names.staff_names.get(before, "nobody") if before else "nobody"
        plan.record.append(
            NewEntry(
                case_id,
                RecordKind.ASSIGNMENT,
                actor,
                f"Case transferred from {was} to {staff_name or 'nobody'}",
                {
                    "reference": reference,
                    "from_staff_id": str(before) if before else None,
                    "to_staff_id": str(staff_id) if staff_id else None,
                },
            )
        )
    plan.changed = [FIELD_OF.get(n, n) for n in changed]
    return plan


def _entry(case_id: uuid.UUID, actor: str, summary: str, reference: str, fields: list[str]) -> NewEntry:
    return NewEntry(case_id, RecordKind.DETAILS, actor, summary, {"reference": reference, "fields": fields})


def _differs(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, list) or isinstance(wanted, list):
        return list(stored or []) != list(wanted or [])
    return bool(stored != wanted)


_UPDATE_CASE = (
    update(CASES)
    .where(CASES.c.id == bindparam("b_id"))
    .values({n: bindparam(f"b_{n}") for n in (*VALUES, "updated_at", "closed_at")})
)
_MOVE_CONVERSATIONS = (
    update(CONVERSATIONS)
    .where(
        CONVERSATIONS.c.service_id == bindparam("b_service"),
        or_(CONVERSATIONS.c.case_id == bindparam("b_case"), CONVERSATIONS.c.person_id == bindparam("b_person")),
    )
    .values(assigned_staff_id=bindparam("b_staff"), state="claimed")
)


async def write_cases(session: AsyncSession, service_id: uuid.UUID, plans: Sequence[CasePlan]) -> None:
    """Write the plans that change something, with their record entries, in the caller's transaction."""
    plans = [p for p in plans if p.changed]
    created = [p.values for p in plans if p.created]
    updated = [{f"b_{k}": v for k, v in p.values.items()} | {"b_id": p.case_id} for p in plans if not p.created]
    now = utcnow()
    clients = [
        {"case_id": p.case_id, "person_id": p.client_id, "role": ParticipantRole.CLIENT.value, "created_at": now}
        for p in plans
        if p.add_client
    ]
    moves = [
        {"b_service": service_id, "b_case": p.case_id, "b_person": p.client_id, "b_staff": p.transfer[1]}
        for p in plans
        if p.transfer is not None and p.transfer[1] is not None
    ]
    for rows, stmt in ((created, insert(CASES)), (updated, _UPDATE_CASE), (clients, insert(PARTICIPANTS))):
        for start in range(0, len(rows), CHUNK):
            await session.execute(stmt, rows[start : start + CHUNK])
    if moves:
        await session.execute(_MOVE_CONVERSATIONS, moves)
    fresh = {p.case_id for p in plans if p.created}  # no entries yet: nothing to look up
    await append_many(session, [entry for p in plans for entry in p.record], fresh=fresh)


async def upsert_case(
    session: AsyncSession, service_id: uuid.UUID, reference: str, fields: Mapping[str, Any], actor: str
) -> tuple[Case, list[str]]:
    """Create or update the case `reference`, in the caller's transaction: (case, changed fields).

    `["created"]` for a new case, `[]` when nothing changed (and nothing was written). FieldErrors
    (every bad field) before anything is written. The caller commits."""
    errors: dict[str, str] = {}
    new = None
    try:
        check_reference(reference)
    except FieldErrors as exc:
        errors.update(exc.errors)
    try:
        new = validate_case(fields)
    except FieldErrors as exc:
        errors.update(exc.errors)
    if errors or new is None:
        raise FieldErrors(errors)
    names = await load_names(session, service_id, external_ids=[new.client] if new.client else [])
    state = (await load_cases(session, service_id, [reference])).get(reference)
    plan = plan_case(service_id, reference, state, new, names, actor)
    if plan.changed:
        await write_cases(session, service_id, [plan])
    case = await session.get(Case, plan.case_id, populate_existing=True)
    assert case is not None
    return case, plan.changed
