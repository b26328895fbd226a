"""`gateway import appointments` (`import_table`, behind the CLI and the upload page) on both databases,
on a fixed clock: dry run, bad rows by row and column with nothing written, the daily `--full` refresh
(unchanged rows write nothing; missing upcoming rows cancelled within the 20% limit, refused beyond
it unless forced; past ones left alone), XLSX cells, and the CLI."""

from __future__ import annotations

import io
from datetime import datetime

import openpyxl
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Appointment, Notification, RecordEntry
from gateway.directory.importer import ImportOptions, ImportReport, RowError, import_table
from tests.appointments.records import NOW, stored
from tests.factories import ServiceUnderTest

HEADER = "external_id,case_reference,kind,starts_at,time_zone,location,bring\n"


async def run(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    kind: str,
    data: bytes,
    name: str = "file.csv",
    now: datetime = NOW,
    **options: bool,
) -> ImportReport:
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return await import_table(
        sessions, engine, vault, service.id, kind, data, name, ImportOptions(now=now, **options), "test:import"
    )


async def clients(sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest) -> None:
    """Two people (Chicago) with a case each: C-1 (P-1) and C-2 (P-2)."""
    people = (
        "external_id,first_name,last_name,timezone,phone_numbers\n"
        "P-1,Pat,One,America/Chicago,+12025550111\nP-2,Sam,Two,America/Chicago,+12025550122\n"
    )
    assert (await run(sessions, vault, service, "people", people.encode())).written
    cases = f"reference,client,assigned_to\nC-1,P-1,{service.team_email}\nC-2,P-2,{service.team_email}\n"
    assert (await run(sessions, vault, service, "cases", cases.encode())).written


def rows(n: int, start: int = 0, day: int = 10) -> str:
    return "".join(
        f"A-{i},C-{1 + i % 2},office_visit,2026-03-{day + i % 5:02d}T{9 + i % 8:02d}:00,,12 Main St,ID\n"
        for i in range(start, start + n)
    )


async def record_count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as db:
        return int(
            await db.scalar(select(func.count()).select_from(RecordEntry).where(RecordEntry.kind == "appointment")) or 0
        )


async def test_dry_run_then_import_then_the_same_file_writes_nothing(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await clients(sessions, vault, service)
    data = (HEADER + rows(6)).encode()
    dry = await run(sessions, vault, service, "appointments", data, dry_run=True)
    assert not dry.written and (dry.created, dry.updated, dry.unchanged) == (6, 0, 0)
    assert dry.summary() == "6 rows, 6 would be created, 0 would be updated, 0 unchanged"
    assert await stored(sessions, service.id) == []
    done = await run(sessions, vault, service, "appointments", data)
    assert done.written and done.created == 6
    before = {a.id: a.updated_at for a in await stored(sessions, service.id)}
    lines = await record_count(sessions)
    again = await run(sessions, vault, service, "appointments", data, full=True)
    assert again.written and (again.created, again.updated, again.unchanged, again.cancelled) == (0, 0, 6, 0)
    assert {a.id: a.updated_at for a in await stored(sessions, service.id)} == before
    assert await record_count(sessions) == lines  # no history line, and the hook was told nothing
    first = (await stored(sessions, service.id))[0]
    assert first.source == "import" and first.time_zone == "America/Chicago"


async def test_bad_rows_are_named_by_row_and_column_and_nothing_is_written(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await clients(sessions, vault, service)
    data = (
        HEADER
        + rows(2)
        + "A-9,C-404,office_visit,2026-03-10T09:00,,12 Main St,\n"
        + "A-8,C-1,picnic,2026-03-08T02:30,America/Chicago,12 Main St,\n"
        + "A-7,C-1,drug_test,2026-03-08T02:30,America/Chicago,12 Main St,\n"
        + "A-0,C-1,office_visit,2026-03-10T09:00,,12 Main St,\n"
        + "A-6,C-1,office_visit,2026-03-10T09:00,,,\n"
    ).encode()
    report = await run(sessions, vault, service, "appointments", data)
    assert not report.written and report.skipped == 5
    assert report.errors == [
        RowError(4, "case_reference", "no case with reference 'C-404' in this service"),
        RowError(
            5,
            "kind",
            "'picnic' is not one of office_visit, drug_test, group_session, court_hearing, job_interview, "
            "workshop, other",
        ),
        RowError(
            6,
            "starts_at",
            "2026-03-08 02:30 does not exist in America/Chicago: the clocks go forward past it that night; "
            "choose another time",
        ),
        RowError(7, "external_id", "'A-0' appears again (first on row 2)"),
        RowError(8, "location", "is required: the address (or set location_kind to phone)"),
    ]
    assert await stored(sessions, service.id) == []
    skipped = await run(sessions, vault, service, "appointments", data, skip_bad_rows=True)
    assert skipped.written and skipped.created == 2
    columns = await run(sessions, vault, service, "appointments", b"external_id,kind,colour\nA-1,office_visit,red\n")
    assert [str(e) for e in columns.errors] == [
        "row 1, column colour: is not a column of a appointments import (external_id, case_reference, person, kind, "
        "title, starts_at, time_zone, duration_minutes, location_kind, location, staff, bring, notes, status)",
        "row 1, column case_reference: is a required column and is missing",
        "row 1, column starts_at: is a required column and is missing",
    ]


async def test_full_refresh_cancels_missing_rows_only_within_the_limit(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await clients(sessions, vault, service)
    past = "P-0,C-1,office_visit,2026-02-20T09:00,,12 Main St,\n"  # before NOW: never cancelled by a refresh
    assert (await run(sessions, vault, service, "appointments", (HEADER + rows(10) + past).encode())).created == 11
    nine = (HEADER + rows(9)).encode()
    report = await run(sessions, vault, service, "appointments", nine, full=True, dry_run=True)
    assert report.cancelled == 1 and not report.written and report.refused is None
    report = await run(sessions, vault, service, "appointments", nine, full=True)
    assert report.written and report.cancelled == 1 and report.unchanged == 9
    status = {a.external_id: a.status for a in await stored(sessions, service.id)}
    assert status["A-9"] == "cancelled" and status["P-0"] == "scheduled"
    async with sessions() as db:
        line = await db.scalar(
            select(RecordEntry).where(RecordEntry.kind == "appointment").order_by(RecordEntry.at.desc()).limit(1)
        )
    assert line is not None and line.summary.endswith("(not in the full refresh import)")
    assert line.data["change"] == "cancelled"

    five = (HEADER + rows(5)).encode()
    refused = await run(sessions, vault, service, "appointments", five, full=True)
    assert not refused.written and refused.cancelled == 4
    assert refused.refused == (
        "The full refresh would cancel 4 of 9 upcoming appointments (more than 20%); check the file, "
        "or run again with --force"
    )
    assert [a.status for a in await stored(sessions, service.id)].count("cancelled") == 1
    forced = await run(sessions, vault, service, "appointments", five, full=True, force=True)
    assert forced.written and forced.cancelled == 4
    assert [a.status for a in await stored(sessions, service.id)].count("cancelled") == 5

    # listed again: without --full they stay cancelled; with --full the file is the whole truth
    ten = (HEADER + rows(10)).encode()
    plain = await run(sessions, vault, service, "appointments", ten)
    assert plain.written and plain.unchanged == 10 and plain.updated == 0
    back = await run(sessions, vault, service, "appointments", ten, full=True)
    assert back.written and back.updated == 5 and back.cancelled == 0
    assert [a.status for a in await stored(sessions, service.id)].count("cancelled") == 0
    async with sessions() as db:
        last = await db.scalar(
            select(RecordEntry).where(RecordEntry.kind == "appointment").order_by(RecordEntry.at.desc()).limit(1)
        )
    assert last is not None and last.summary.startswith("Appointment scheduled again: office visit on")
    assert last.data["change"] == "created" and last.data["reinstated"] is True  # the hook plans it afresh


async def test_a_moved_row_is_a_move_and_xlsx_cells_are_read(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await clients(sessions, vault, service)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "case_reference", "kind", "starts_at", "duration_minutes", "location"])
    sheet.append(["X-1", "C-1", "court_hearing", datetime(2026, 3, 9, 9, 0), 90, "County courthouse, Room 2"])
    buffer = io.BytesIO()
    book.save(buffer)
    report = await run(sessions, vault, service, "appointments", buffer.getvalue(), name="hearings.xlsx")
    assert report.written and report.created == 1, report.errors
    [made] = await stored(sessions, service.id)
    assert made.duration_minutes == 90 and made.starts_at.isoformat() == "2026-03-09T14:00:00+00:00"
    moved = (
        b"external_id,case_reference,kind,starts_at,duration_minutes,location\n"
        b'X-1,C-1,court_hearing,2026-03-11T09:00,90,"County courthouse, Room 2"\n'
    )
    report = await run(sessions, vault, service, "appointments", moved)
    assert report.updated == 1
    [after] = await stored(sessions, service.id)
    assert after.previous_starts_at == made.starts_at and after.sequence == made.sequence + 1
    async with sessions() as db:
        changes = (
            await db.scalars(
                select(RecordEntry.data).where(RecordEntry.case_id == made.case_id, RecordEntry.kind == "appointment")
            )
        ).all()
        count = await db.scalar(select(func.count()).where(Appointment.service_id == service.id))
    assert [c["change"] for c in changes] == ["created", "moved"] and count == 1


async def test_the_command_prints_the_refusal_and_exits_1(sessions, vault, service, settings, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import argparse

    from gateway.directory.command import run_import

    await clients(sessions, vault, service)
    # the command reads the real clock: rows in 2099 are upcoming
    upcoming = "".join(f"F-{i},C-1,workshop,2099-03-{10 + i:02d}T09:00,,Library,\n" for i in range(5))
    path = tmp_path / "court.csv"
    path.write_text(HEADER + upcoming)
    args = argparse.Namespace(file=str(path), dry_run=False, skip_bad_rows=False, quiet=True, full=True, force=False)
    assert await run_import(settings, args, "appointments", service.id) == 0
    path.write_text(HEADER + upcoming.splitlines(keepends=True)[0])
    assert await run_import(settings, args, "appointments", service.id) == 1
    out = capsys.readouterr().out
    assert "full refresh: 4 upcoming appointments are not in the file and would be cancelled" in out
    assert "refused: The full refresh would cancel 4 of 5 upcoming appointments (more than 20%)" in out
    assert "checked: 1 rows, 0 would be created, 0 would be updated, 1 unchanged, 4 would be cancelled" in out


async def test_an_import_of_several_chunks_plans_every_row_and_analyzes_what_it_fills(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    """New rows come back from their INSERT (not read again) with all the hook needs; on PostgreSQL the
    import analyzes the tables after its first chunk, inside its transaction (a fresh install's planner
    would otherwise scan them whole for each chunk: `gateway.db.engine.analyze_in_transaction`)."""
    await clients(sessions, vault, service)
    count = 2001  # one more than a chunk (gateway.directory.importer.CHUNK)
    # in 2030, so the reminders are not due by the real clock (the run's sweepers share this database)
    data = "".join(
        f"A-{i},C-{1 + i % 2},office_visit,2030-03-{10 + i % 5}T09:00,,12 Main St,ID\n" for i in range(count)
    )
    done = await run(sessions, vault, service, "appointments", (HEADER + data).encode())
    assert done.written and done.created == count
    async with sessions() as db:
        planned = await db.scalar(
            select(func.count(func.distinct(Notification.appointment_id))).where(Notification.service_id == service.id)
        )
        assert planned == count  # each appointment's day-before reminder
        if db.get_bind().dialect.name == "postgresql":
            counted = await db.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'appointments'"))
            assert counted is not None and counted >= 2000  # -1: never analyzed
