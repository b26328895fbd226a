"""The print batch: mixed postage and its manifest, test keys never printed, cancel until the cut,
a crash at each step and a rerun (each letter printed once), and the daily cutoff on the service's clock."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from sqlalchemy import func, select, update

from gateway.db import LetterBatch, Notification, NotificationEvent
from gateway.db.base import utcnow
from gateway.jobs.sweeper import sweep
from gateway.letters import batch as batches
from gateway.letters.cancel import cancel_letter
from gateway.letters.schedule import batch_due_letters
from tests.api.test_auth import bearer
from tests.jobs.conftest import set_service
from tests.letters.helpers import LETTER_PATH, letter, settle

SPAIN = {"address_line_1": "Ana García", "address_line_2": "Calle Mayor 1", "address_line_3": "28013 Madrid",
         "address_line_4": "Spain"}  # fmt: skip


async def send(client: Any, service: Any, key: str | None = None, **changes: Any) -> uuid.UUID:
    resp = await client.post(LETTER_PATH, json=letter(**changes), headers=bearer(key or service.live_key, service.id))
    assert resp.status == 201, await resp.text()
    return uuid.UUID((await resp.json())["id"])


def manifest(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


async def statuses(sessions: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    async with sessions() as session:
        return dict(
            (await session.execute(select(Notification.id, Notification.status).where(Notification.id.in_(ids)))).all()
        )


async def received_events(sessions: Any, nid: uuid.UUID) -> int:
    async with sessions() as session:
        query = select(func.count()).where(
            NotificationEvent.notification_id == nid, NotificationEvent.status == "received"
        )
        return int(await session.scalar(query) or 0)


async def test_batch_of_mixed_postage_with_manifest(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    first = await send(client, service, reference="=HYPERLINK(1)")
    certified = await send(client, service, postage="certified", reference="c-1")
    abroad = await send(client, service, address=SPAIN, reference="es-1")
    test = await send(client, service, key=service.test_key)
    await settle(client)
    [report] = await batches.run_batch(letters_ctx, service.id, now=utcnow())
    assert report.letters == 3 and report.sheets == 3
    rows = manifest(report.manifest_path)
    assert [r["notification_id"] for r in rows] == [str(first), str(certified), str(abroad)]
    assert [(r["postage"], r["zip"], r["country"]) for r in rows] == [
        ("first", "62704", "US"),
        ("certified", "62704", "US"),
        ("international", "", "ES"),
    ]
    assert rows[0]["reference"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert [(r["first_page"], r["pages"], r["sheets"]) for r in rows] == [
        ("1", "2", "1"),
        ("3", "2", "1"),
        ("5", "2", "1"),
    ]
    pdf = pdfium.PdfDocument(report.pdf_path)
    assert len(pdf) == 6 and tuple(round(x) for x in pdf[0].get_size()) == (612, 792)
    assert "Alex Example" in pdf[0].get_textpage().get_text_range()
    assert pdf[1].get_textpage().get_text_range().strip() == ""  # the blank back of a one-page letter
    pdf.close()
    assert set((await statuses(sessions, [first, certified, abroad, test])).values()) == {"received"}
    async with sessions() as session:
        detail = await session.scalar(
            select(NotificationEvent.detail).where(
                NotificationEvent.notification_id == test, NotificationEvent.status == "received"
            )
        )
    assert detail == "test key: not printed"
    assert await batches.run_batch(letters_ctx, service.id, now=utcnow()) == []  # nothing left to print


async def test_cancel_until_the_batch_is_cut(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    kept, cancelled = await send(client, service), await send(client, service)
    await settle(client)
    assert await cancel_letter(letters_ctx, service.id, cancelled, actor="staff:test")
    assert not await cancel_letter(letters_ctx, uuid.uuid4(), kept, actor="staff:test")  # another service's
    batch_id = await batches.cut(letters_ctx, service.id, now=utcnow(), accepted_before=utcnow())
    assert batch_id is not None
    assert not await cancel_letter(letters_ctx, service.id, kept, actor="staff:test")  # cut: too late
    [report] = await batches.run_batch(letters_ctx, service.id, now=utcnow())
    assert [r["notification_id"] for r in manifest(report.manifest_path)] == [str(kept)]
    assert await statuses(sessions, [kept, cancelled]) == {kept: "received", cancelled: "cancelled"}


async def test_crash_after_writing_before_finishing_then_rerun(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    ids = [await send(client, service) for _ in range(3)]
    await settle(client)
    batch_id = await batches.cut(letters_ctx, service.id, now=utcnow(), accepted_before=utcnow())
    assert batch_id is not None
    async with sessions() as session:
        batch = await session.get(LetterBatch, batch_id)
    assert batch is not None
    await batches._mark(letters_ctx, batch)
    await batches._write(letters_ctx, batch)  # ... and the process dies here, before the batch is `sent`
    later = await send(client, service)
    await settle(client)
    reports = await batches.run_batch(letters_ctx, service.id, now=utcnow())
    assert len(reports) == 2 and reports[0].batch_id == batch_id
    printed = [row["notification_id"] for r in reports for row in manifest(r.manifest_path)]
    assert sorted(printed) == sorted(str(i) for i in [*ids, later])  # each letter once
    for nid in [*ids, later]:
        assert await received_events(sessions, nid) == 1
    async with sessions() as session:
        states = (await session.scalars(select(LetterBatch.state).where(LetterBatch.service_id == service.id))).all()
    assert states == ["sent", "sent"]


async def test_crash_after_cut_then_rerun(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    nid = await send(client, service)
    await settle(client)
    batch_id = await batches.cut(letters_ctx, service.id, now=utcnow(), accepted_before=utcnow())
    [report] = await batches.run_batch(letters_ctx, service.id, now=utcnow())  # the cut batch, finished
    assert report.batch_id == batch_id
    assert [r["notification_id"] for r in manifest(report.manifest_path)] == [str(nid)]
    assert await received_events(sessions, nid) == 1


async def accepted_at(sessions: Any, nid: uuid.UUID, when: datetime) -> None:
    async with sessions() as session:
        await session.execute(update(Notification).where(Notification.id == nid).values(sent_at=when))
        await session.commit()


async def test_daily_cutoff_on_the_service_clock(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    await set_service(sessions, service.id, timezone="America/Chicago")  # 17:30 CST is 23:30 UTC in December
    early, late = await send(client, service), await send(client, service)
    await settle(client)
    day = datetime(2026, 12, 7, tzinfo=UTC)
    await accepted_at(sessions, early, day + timedelta(hours=22))  # 16:00 in Chicago
    await accepted_at(sessions, late, day + timedelta(hours=23, minutes=45))  # 17:45: after the cutoff

    async def due(at: datetime) -> list[batches.BatchReport]:  # other tests' services share the database
        return [r for r in await batch_due_letters(letters_ctx, at) if r.service_id == service.id]

    assert await due(day + timedelta(hours=23)) == []  # 17:00: not yet
    [report] = await due(day + timedelta(hours=23, minutes=31))
    assert [r["notification_id"] for r in manifest(report.manifest_path)] == [str(early)]
    assert Path(report.pdf_path).parent.name == "2026-12-07"  # the day on the service's clock
    assert await due(day + timedelta(hours=23, minutes=50)) == []
    [next_day] = await due(day + timedelta(days=1, hours=23, minutes=31))
    assert [r["notification_id"] for r in manifest(next_day.manifest_path)] == [str(late)]


async def test_the_sweeper_runs_the_cutoff(client, service, sessions, database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from gateway.jobs.context import close_job_context, open_job_context
    from tests.conftest import test_settings

    nid = await send(client, service)
    await settle(client)
    await accepted_at(sessions, nid, utcnow() - timedelta(days=1))  # before today's cutoff, whenever this runs
    ctx = await open_job_context(test_settings(database_url, letters_dir=tmp_path / "b", letters_cutoff="00:00"))
    try:
        summary = await sweep(ctx)
    finally:
        await close_job_context(ctx)
    assert "letter_batches=" in summary and not summary.endswith("letter_batches=0")
    assert (await statuses(sessions, [nid]))[nid] == "received"
