"""What the staff letter pages read: print batches, letters waiting for the next one, printed letters,
a case's letters, and one letter for its PDF, always inside the signed-in staff member's service.

Letters to victims (the letter's person is a victim participant of a case of a victim-services
service) are left out for staff `can_see_victim_data` does not allow, as conversations are; a letter
of another service, or a hidden one, is simply not found. The first address line (the addressee) is
opened from the sealed recipient only for the page that shows it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.api.letters import NO_PDF
from gateway.crypto import Vault
from gateway.db import LetterBatch, LetterDocument, Notification
from gateway.domain import Channel, NotificationStatus
from gateway.letters.statuses import letter_status
from gateway.victim_access import victim_people
from gateway.web.context import StaffContext
from gateway.web.conversation_data import aware, hides_victims

S = NotificationStatus
WAITING = (S.CREATED.value, S.SENDING.value, S.ACCEPTED.value)
PRINTED = (S.RECEIVED.value, S.RETURNED_LETTER.value)
MAX_ROWS = 200
MAX_BATCHES = 60
POSTAGE_LABELS = {
    "first": "First-Class",
    "marketing": "Marketing Mail",
    "certified": "Certified Mail",
    "international": "First-Class International",
}


@dataclass(frozen=True)
class LetterRow:
    id: uuid.UUID
    at: datetime
    addressee: str  # the first address line
    reference: str | None
    postage: str
    status: str  # as Notify shows it (`accepted` for a letter not yet made ready)
    tracking_number: str | None
    has_pdf: bool
    case_id: uuid.UUID | None


@dataclass(frozen=True)
class BatchRow:
    id: uuid.UUID
    day: str
    cut_at: datetime
    state: str
    letters: int
    sheets: int
    by_postage: dict[str, int]
    has_files: bool
    uploaded_at: datetime | None


def _visible(staff: StaffContext) -> list[Any]:
    where: list[Any] = [Notification.service_id == staff.service_id, Notification.channel == Channel.LETTER.value]
    if hides_victims(staff):
        where.append(
            or_(Notification.person_id.is_(None), Notification.person_id.not_in(victim_people(staff.service_id)))
        )
    return where


def _row(vault: Vault, n: Notification, document: LetterDocument | None) -> LetterRow:
    recipient = vault.open(n.recipient_enc)
    return LetterRow(
        id=n.id,
        at=aware(n.created_at),
        addressee=recipient.split("\n", 1)[0] if recipient else "(no address: refused)",
        reference=n.reference,
        postage=n.postage or "",
        status=letter_status(n.status),
        tracking_number=n.tracking_number,
        has_pdf=document is not None and document.pages > 0 and n.status not in NO_PDF,
        case_id=n.case_id,
    )


async def _letters(db: AsyncSession, vault: Vault, where: list[Any], newest_first: bool = True) -> list[LetterRow]:
    order = Notification.created_at.desc() if newest_first else Notification.created_at
    rows = await db.execute(
        select(Notification, LetterDocument)
        .outerjoin(LetterDocument, LetterDocument.notification_id == Notification.id)
        .where(*where)
        .order_by(order, Notification.id)
        .limit(MAX_ROWS)
    )
    return [_row(vault, n, document) for n, document in rows.all()]


async def waiting_letters(db: AsyncSession, vault: Vault, staff: StaffContext) -> list[LetterRow]:
    """Letters not yet in a print batch (these may still be cancelled), oldest first."""
    where = [*_visible(staff), Notification.status.in_(WAITING), LetterDocument.batch_id.is_(None)]
    return await _letters(db, vault, where, newest_first=False)


async def waiting_letter(
    db: AsyncSession, vault: Vault, staff: StaffContext, notification_id: uuid.UUID
) -> LetterRow | None:
    """One letter still waiting for a batch (it may be cancelled), or None."""
    where = [*_visible(staff), Notification.status.in_(WAITING), LetterDocument.batch_id.is_(None)]
    found = await _letters(db, vault, [*where, Notification.id == notification_id])
    return found[0] if found else None


async def printed_letters(db: AsyncSession, vault: Vault, staff: StaffContext) -> list[LetterRow]:
    """The latest printed letters (received or returned), with their tracking numbers."""
    return await _letters(db, vault, [*_visible(staff), Notification.status.in_(PRINTED)])


async def all_letters(db: AsyncSession, vault: Vault, staff: StaffContext) -> list[LetterRow]:
    """The latest letters whatever their status (the sandbox mailroom)."""
    return await _letters(db, vault, _visible(staff))


async def case_letters(db: AsyncSession, vault: Vault, staff: StaffContext, case_id: uuid.UUID) -> list[LetterRow]:
    return await _letters(db, vault, [*_visible(staff), Notification.case_id == case_id])


async def batches(db: AsyncSession, service_id: uuid.UUID, day: str | None = None) -> list[BatchRow]:
    """The service's print batches, newest first (only `day`'s when given), with their letters by postage."""
    query = select(LetterBatch).where(LetterBatch.service_id == service_id)
    if day is not None:
        query = query.where(LetterBatch.day == day)
    found = (await db.scalars(query.order_by(LetterBatch.cut_at.desc()).limit(MAX_BATCHES))).all()
    counts: dict[uuid.UUID, dict[str, int]] = {b.id: {} for b in found}
    if found:
        rows = await db.execute(
            select(LetterDocument.batch_id, Notification.postage, func.count())
            .join(Notification, Notification.id == LetterDocument.notification_id)
            .where(LetterDocument.batch_id.in_(list(counts)), Notification.status.in_(PRINTED))
            .group_by(LetterDocument.batch_id, Notification.postage)
        )
        for batch_id, postage, count in rows.all():
            if batch_id is not None:
                counts[batch_id][postage or ""] = int(count)
    return [
        BatchRow(
            b.id,
            b.day,
            aware(b.cut_at),
            b.state,
            b.letters,
            b.sheets,
            counts[b.id],
            bool(b.pdf_path),
            aware(b.uploaded_at) if b.uploaded_at else None,
        )
        for b in found
    ]


async def batch_of(db: AsyncSession, service_id: uuid.UUID, batch_id: uuid.UUID) -> LetterBatch | None:
    return await db.scalar(select(LetterBatch).where(LetterBatch.id == batch_id, LetterBatch.service_id == service_id))


async def letter_of(
    db: AsyncSession, staff: StaffContext, notification_id: uuid.UUID
) -> tuple[Notification, LetterDocument | None] | None:
    """One letter the staff member may see, with its document; None otherwise (the page answers 404)."""
    found = (
        await db.execute(
            select(Notification, LetterDocument)
            .outerjoin(LetterDocument, LetterDocument.notification_id == Notification.id)
            .where(*_visible(staff), Notification.id == notification_id)
        )
    ).first()
    return None if found is None else (found[0], found[1])
