"""Reassigning cases: one client's case, or a whole caseload when an officer leaves.

The rule, in one place:

* The new case handler is an active member of staff of the same service; a case of another
  service is never touched (the caller found the cases inside its own service, and every
  statement here is scoped to it again).
* Each case, its conversations (the case's own and its participants') and one ASSIGNMENT entry
  on its record change together: all the cases of one call in one transaction, so an officer's
  caseload moves whole or not at all. The entry names who it went from and to, and the reason
  given (staff wrote it, like a note; it must not hold contact details).
* A case already with the new handler is left alone (no entry): a repeated request writes nothing.
* A case in which a victim takes part goes only to staff allowed victim data
  (`gateway.victim_access`), because the victim's conversation moves with it: otherwise the whole
  call is refused and nothing moves.

Two writers racing for a case's next record seq: the loser's transaction rolls back and runs again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import Case, CaseParticipant, Conversation, Service, StaffUser
from gateway.domain import ParticipantRole, RecordKind
from gateway.record import append_in_session
from gateway.victim_access import can_see_victim_data

MAX_ATTEMPTS = 10
MAX_REASON_CHARS = 500
VICTIM_CASE = "A victim takes part in case {ref}, so it can be given only to a victim advocate, supervisor or admin."


class ReassignError(ValueError):
    """A reassignment that may not happen; the message says why, in words for the page."""


@dataclass(frozen=True, slots=True)
class Moved:
    """One case that changed hands: its record entry's seq and how many conversations went with it."""

    case_id: uuid.UUID
    reference: str
    from_staff_id: uuid.UUID | None
    seq: int
    conversations: int


def check_target(service_id: uuid.UUID, to: StaffUser) -> None:
    if to.service_id != service_id or not to.active:
        raise ReassignError("Choose an active member of staff of this service.")


async def reassign_cases(
    sessions: async_sessionmaker[AsyncSession],
    service_id: uuid.UUID,
    case_ids: list[uuid.UUID],
    to: StaffUser,
    actor: str,
    *,
    reason: str | None = None,
    names: dict[uuid.UUID, str] | None = None,
) -> list[Moved]:
    """Give the cases to `to`, with their conversations, writing one record entry per case moved.

    `names` maps staff ids to names for the entry's summary (what a reader of the record sees);
    the entry's data keeps the ids.
    """
    check_target(service_id, to)
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise ReassignError(f"The reason can be at most {MAX_REASON_CHARS} characters.")
    names = names or {}
    for attempt in range(MAX_ATTEMPTS):
        async with sessions() as db:
            try:
                cases = [c for c in await _cases(db, service_id, case_ids) if c.assigned_staff_id != to.id]
                await _check_victim_rule(db, service_id, cases, to)
                moved = [await _move(db, case, to, actor, reason, names) for case in cases]
                await db.commit()
                return moved
            except IntegrityError:
                await db.rollback()
                if attempt == MAX_ATTEMPTS - 1:
                    raise
    raise AssertionError("unreachable")


async def _cases(db: AsyncSession, service_id: uuid.UUID, case_ids: list[uuid.UUID]) -> list[Case]:
    if not case_ids:
        return []
    query = select(Case).where(Case.service_id == service_id, Case.id.in_(case_ids)).order_by(Case.external_ref)
    return list((await db.scalars(query)).all())


async def _check_victim_rule(db: AsyncSession, service_id: uuid.UUID, cases: list[Case], to: StaffUser) -> None:
    service = await db.get(Service, service_id)
    if not cases or service is None or can_see_victim_data(to, service):
        return
    with_victims = await db.scalar(
        select(Case.external_ref)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .where(Case.id.in_([c.id for c in cases]), CaseParticipant.role == ParticipantRole.VICTIM.value)
        .limit(1)
    )
    if with_victims is not None:
        raise ReassignError(VICTIM_CASE.format(ref=with_victims))


async def _move(
    db: AsyncSession, case: Case, to: StaffUser, actor: str, reason: str | None, names: dict[uuid.UUID, str]
) -> Moved:
    before = case.assigned_staff_id
    person_ids = select(CaseParticipant.person_id).where(CaseParticipant.case_id == case.id)
    await db.execute(
        update(Case).where(Case.id == case.id, Case.service_id == case.service_id).values(assigned_staff_id=to.id)
    )
    conversations = await db.execute(
        update(Conversation)
        .where(
            Conversation.service_id == case.service_id,
            or_(Conversation.case_id == case.id, Conversation.person_id.in_(person_ids)),
        )
        .values(assigned_staff_id=to.id, state="claimed")
        .execution_options(synchronize_session=False)
    )
    summary = f"Case assigned to {to.name}"
    if before is not None:
        summary += f" (was {names.get(before, 'another member of staff')})"
    if reason:
        summary += f". Reason: {reason}"
    seq = await append_in_session(
        db,
        case.id,
        RecordKind.ASSIGNMENT,
        actor,
        summary,
        {"from_staff_id": str(before) if before else None, "to_staff_id": str(to.id), "reason": reason},
    )
    return Moved(case.id, case.external_ref, before, seq, int(conversations.rowcount or 0))  # type: ignore[attr-defined]
