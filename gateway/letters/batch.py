"""The print batch: a service's accepted letters, cut into one batch, marked `received`, written to files.

`run_batch` first finishes any batch a crash left unfinished, then cuts a new one. Each step is its
own transaction, so a crash anywhere leaves a state the next run completes, and no letter is dropped
or printed twice:

1. **cut** — a `LetterBatch` row, and one UPDATE gives every eligible letter (`accepted`, not a test
   key's, accepted before the cutoff, in no batch yet) that batch's id. A letter is in one batch.
2. **mark** — one guarded transition `accepted` -> `received` for the batch's letters. Cancelling is
   the same kind of transition (`accepted` -> `cancelled`), so of a cancel and a batch that race for a
   letter exactly one wins; the letters printed are the ones marked in this batch.
3. **write** — the PDF and manifest (`printfile`), atomically, with the same letters in the same order
   however often it runs; then upload (`sftp`, when a mail house is configured); then `sent`.

Test-key letters are never printed: at each run the service's accepted test letters become `received`
with the detail "test key: not printed", as Notify's simulated letters do.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update

from gateway.db import LetterBatch, LetterDocument, Notification, Service
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.jobs.receipts import after_status_changes
from gateway.letters.address import PostalAddress
from gateway.letters.content import open_content
from gateway.letters.logo import load_logos
from gateway.letters.printfile import PrintItem, write_batch
from gateway.localtime import to_local
from gateway.transitions import transition_many

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
S = NotificationStatus
ACTOR = "gateway:letters"
CUT, MARKED, WRITTEN, SENT = "cut", "marked", "written", "sent"


@dataclass(frozen=True)
class BatchReport:
    batch_id: uuid.UUID
    service_id: uuid.UUID
    day: str
    letters: int
    sheets: int
    pdf_path: str
    manifest_path: str


async def run_batch(
    ctx: JobContext, service_id: uuid.UUID, *, now: datetime, accepted_before: datetime | None = None
) -> list[BatchReport]:
    """Finish this service's unfinished batches, then cut, mark and write a new one (if any letter is due)."""
    await _pass_test_letters(ctx, service_id, accepted_before or now)
    async with ctx["sessions"]() as session:
        unfinished = (
            await session.scalars(
                select(LetterBatch.id)
                .where(LetterBatch.service_id == service_id, LetterBatch.state != SENT)
                .order_by(LetterBatch.cut_at)
            )
        ).all()
    reports = [await finish(ctx, batch_id) for batch_id in unfinished]
    batch_id = await cut(ctx, service_id, now=now, accepted_before=accepted_before or now)
    if batch_id is not None:
        reports.append(await finish(ctx, batch_id))
    return reports


def _eligible(service_id: uuid.UUID, accepted_before: datetime) -> object:
    return select(Notification.id).where(
        Notification.service_id == service_id,
        Notification.channel == Channel.LETTER.value,
        Notification.status == S.ACCEPTED.value,
        Notification.key_type != KeyType.TEST.value,
        Notification.sent_at <= accepted_before,
    )


async def cut(ctx: JobContext, service_id: uuid.UUID, *, now: datetime, accepted_before: datetime) -> uuid.UUID | None:
    """Step 1: a new batch holding every eligible letter; None (and no batch) when there is none."""
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        service = await session.get(Service, service_id)
        assert service is not None
        batch = LetterBatch(service_id=service_id, day=to_local(now, service.timezone).date().isoformat(), cut_at=now)
        session.add(batch)
        await session.flush()
        moved = await session.execute(
            update(LetterDocument)
            .where(
                LetterDocument.service_id == service_id,
                LetterDocument.batch_id.is_(None),
                LetterDocument.notification_id.in_(_eligible(service_id, accepted_before)),  # type: ignore[arg-type]
            )
            .values(batch_id=batch.id)
            .execution_options(synchronize_session=False)
        )
        count = int(getattr(moved, "rowcount", 0) or 0)
        if count == 0:
            await session.rollback()
            return None
        batch.letters = count
        await session.commit()
        log.info("letters.batch_cut", batch_id=str(batch.id), service_id=str(service_id), letters=count)
        return batch.id


async def finish(ctx: JobContext, batch_id: uuid.UUID) -> BatchReport:
    """Steps 2 and 3 for a batch, from wherever it stopped."""
    async with ctx["sessions"]() as session:
        batch = await session.get(LetterBatch, batch_id)
        assert batch is not None
    if batch.state == CUT:
        await _mark(ctx, batch)
    if batch.state in (CUT, MARKED, WRITTEN):
        await _write(ctx, batch)
        from gateway.letters.sftp import upload_batch  # asyncssh only when a mail house is configured

        uploaded = await upload_batch(ctx["settings"], batch)
        async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
            await session.execute(
                update(LetterBatch)
                .where(LetterBatch.id == batch.id)
                .values(state=SENT, done_at=now_utc(), uploaded_at=uploaded)
            )
            await session.commit()
    return BatchReport(
        batch.id,
        batch.service_id,
        batch.day,
        batch.letters,
        batch.sheets,
        batch.pdf_path or "",
        batch.manifest_path or "",
    )


def now_utc() -> datetime:
    from gateway.db.base import utcnow

    return utcnow()


async def _mark(ctx: JobContext, batch: LetterBatch) -> None:
    members = select(LetterDocument.notification_id).where(LetterDocument.batch_id == batch.id)
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        moved = await transition_many(
            session,
            [Notification.id.in_(members)],
            expected=S.ACCEPTED,
            to=S.RECEIVED,
            detail=f"print batch {batch.id}",
        )
        await session.execute(update(LetterBatch).where(LetterBatch.id == batch.id).values(state=MARKED))
        await session.commit()
    batch.state = MARKED
    await _announce(ctx, [nid for nid, _ in moved], S.RECEIVED)


async def _announce(ctx: JobContext, ids: list[uuid.UUID], status: NotificationStatus) -> None:
    """Case record, live push and the service's receipt callback for each letter that changed."""
    for at in range(0, len(ids), 500):
        async with ctx["sessions"]() as session:
            rows = (await session.scalars(select(Notification).where(Notification.id.in_(ids[at : at + 500])))).all()
        await after_status_changes(ctx, [(n, status) for n in rows], record=True, actor=ACTOR)


async def _write(ctx: JobContext, batch: LetterBatch) -> None:
    """Step 3: the files, with the letters this batch marked (in the order they were sent to the API)."""
    vault, settings = ctx["vault"], ctx["settings"]
    async with ctx["sessions"]() as session:
        rows = (
            await session.execute(
                select(Notification, LetterDocument)
                .join(LetterDocument, LetterDocument.notification_id == Notification.id)
                .where(
                    LetterDocument.batch_id == batch.id,
                    Notification.status.in_([S.RECEIVED.value, S.RETURNED_LETTER.value]),
                )
                .order_by(Notification.created_at, Notification.id)
            )
        ).all()
    items = []
    for n, document in rows:
        address = PostalAddress.from_text(vault.open(n.recipient_enc))
        content = open_content(vault, document.content_enc) if document.kind == "templated" else None
        pdf = base64.b64decode(vault.open(document.content_enc)) if content is None else None
        items.append(PrintItem(n.id, n.reference, n.postage or "", address.zip_code, address.country, content, pdf))
    folder = Path(settings.letters_dir) / str(batch.service_id) / batch.day
    name = f"batch-{batch.cut_at:%H%M%S}-{batch.id}"
    async with ctx["sessions"]() as session:
        logos = await load_logos(session, {i.content.logo for i in items if i.content is not None})
    written = await asyncio.to_thread(
        write_batch, items, folder / f"{name}.pdf", folder / f"{name}.csv", f"Print batch {batch.id}", logos
    )
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        values = {
            "state": WRITTEN,
            "letters": written.letters,
            "sheets": written.sheets,
            "pdf_path": str(written.pdf_path),
            "manifest_path": str(written.manifest_path),
        }
        await session.execute(update(LetterBatch).where(LetterBatch.id == batch.id).values(**values))
        await session.commit()
    batch.state, batch.letters, batch.sheets = WRITTEN, written.letters, written.sheets
    batch.pdf_path, batch.manifest_path = str(written.pdf_path), str(written.manifest_path)
    log.info("letters.batch_written", batch_id=str(batch.id), letters=written.letters, sheets=written.sheets)


async def _pass_test_letters(ctx: JobContext, service_id: uuid.UUID, accepted_before: datetime) -> None:
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        moved = await transition_many(
            session,
            [
                Notification.service_id == service_id,
                Notification.channel == Channel.LETTER.value,
                Notification.key_type == KeyType.TEST.value,
                Notification.sent_at <= accepted_before,
            ],
            expected=S.ACCEPTED,
            to=S.RECEIVED,
            detail="test key: not printed",
        )
        await session.commit()
    await _announce(ctx, [nid for nid, _ in moved], S.RECEIVED)
