"""The case record: append-only, hash-chained, and tamper-evident, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import delete, select, update

from gateway.db import Case, RecordEntry
from gateway.domain import RecordKind
from gateway.record import append_entry, verify_chain


async def _case(sessions, service) -> uuid.UUID:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        case = Case(service_id=service.id, external_ref=f"CASE-{uuid.uuid4().hex[:8]}")
        session.add(case)
        await session.commit()
        return case.id


async def test_chain_verifies_and_names_an_edited_entry(sessions, service) -> None:  # type: ignore[no-untyped-def]
    case_id = await _case(sessions, service)
    for i in range(5):
        await append_entry(sessions, case_id, RecordKind.NOTE, "officer:1", f"note {i}", {"i": i})
    async with sessions() as session:
        report = await verify_chain(session, case_id)
        assert report.ok and report.entries == 5
        await session.execute(
            update(RecordEntry).where(RecordEntry.case_id == case_id, RecordEntry.seq == 3).values(summary="edited")
        )
        await session.commit()
    async with sessions() as session:
        report = await verify_chain(session, case_id)
    assert not report.ok
    assert report.first_bad_seq == 3
    assert "changed" in (report.reason or "")


async def test_deleted_entry_is_detected(sessions, service) -> None:  # type: ignore[no-untyped-def]
    case_id = await _case(sessions, service)
    for i in range(4):
        await append_entry(sessions, case_id, RecordKind.NOTE, "officer:1", f"note {i}")
    async with sessions() as session:
        await session.execute(delete(RecordEntry).where(RecordEntry.case_id == case_id, RecordEntry.seq == 2))
        await session.commit()
        report = await verify_chain(session, case_id)
    assert report.first_bad_seq == 2


async def test_concurrent_appends_keep_one_unbroken_chain(sessions, service) -> None:  # type: ignore[no-untyped-def]
    case_id = await _case(sessions, service)
    await asyncio.gather(*(append_entry(sessions, case_id, RecordKind.NOTE, "officer:1", f"n{i}") for i in range(30)))
    async with sessions() as session:
        report = await verify_chain(session, case_id)
        seqs = (await session.scalars(select(RecordEntry.seq).where(RecordEntry.case_id == case_id))).all()
    assert report.ok, report.reason
    assert sorted(seqs) == list(range(1, 31))
