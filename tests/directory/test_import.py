"""The import (`import_table`, behind `gateway import` and the upload page) on both databases:
bad rows named by row and column with nothing written, skip, dry run, `--full` and its 20% limit, XLSX."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, Person
from gateway.db.base import utcnow
from gateway.directory.importer import ImportOptions, ImportReport, RowError, import_table
from gateway.directory.people import person_digest
from tests.directory.people import counts, entries
from tests.factories import ServiceUnderTest

SAMPLES = Path(__file__).parents[2] / "samples"
PEOPLE_HEADER = (
    "external_id,first_name,last_name,phone_numbers,language,timezone,sms_consent,sms_consent_source,sms_consent_at\n"
)
SOURCES = "is not one of intake-form, verbal, written, keyword"


async def run(
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service: ServiceUnderTest,
    kind: str,
    data: bytes,
    name: str = "file.csv",
    **options: bool,
) -> ImportReport:
    engine = sessions.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return await import_table(
        sessions, engine, vault, service.id, kind, data, name, ImportOptions(**options), "test:import"
    )


def people_csv(n: int, start: int = 0) -> bytes:
    tail = "en,America/Chicago,yes,intake-form,2026-01-05"
    rows = [f"P-{i},Pat,Number{i},+1202555{i:04d},{tail}" for i in range(start, start + n)]
    return (PEOPLE_HEADER + "\n".join(rows) + "\n").encode()


def cases_csv(refs: list[str], client: str = "P-1") -> bytes:
    return ("reference,client,status,tags\n" + "".join(f"{r},{client},open,a;b\n" for r in refs)).encode()


async def test_bad_rows_are_named_and_nothing_is_written(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    data = people_csv(3) + (
        b"P-9,,Last,+442079460000,fr,Mars/Base,maybe,,\n"
        b"P-1,Dup,Row,,en,,,,\n"
        b"P-8,Ana,Ok,+12025550188,en,,yes,telepathy,2026-01-05\n"
    )
    report = await run(sessions, vault, service, "people", data)
    assert not report.written and report.skipped == 3
    assert report.errors == [
        RowError(5, "first_name", "is required"),
        RowError(5, "language", "'fr' is not a language the gateway has templates in (en, es)"),
        RowError(5, "timezone", "'Mars/Base' is not a time zone name such as America/Chicago"),
        RowError(5, "phone_numbers", "Not a mobile number: text messages cannot be sent to it"),
        RowError(5, "sms_consent", "'maybe' is not yes or no"),
        RowError(6, "external_id", "'P-1' appears again (first on row 3)"),
        RowError(7, "sms_consent_source", f"consent.sms.source 'telepathy' {SOURCES}"),
    ]
    assert await counts(sessions, service.id) == (0, 0)
    skipped = await run(sessions, vault, service, "people", data, skip_bad_rows=True)
    assert skipped.written and skipped.created == 3 and skipped.error_count == 7
    assert await counts(sessions, service.id) == (3, 3)


async def test_only_the_first_50_errors_are_kept(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    data = (PEOPLE_HEADER + "".join(f"P-{i},,x,,en,,,,\n" for i in range(80))).encode()
    report = await run(sessions, vault, service, "people", data)
    assert report.error_count == 80 and len(report.errors) == 50


async def test_unknown_and_missing_columns_stop_before_any_row(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    report = await run(sessions, vault, service, "people", b"external_id,surname\nP-1,X\n")
    assert [str(e) for e in report.errors][:1] == [
        "row 1, column surname: is not a column of a people import (" + report.errors[0].message.split("(", 1)[1]
    ]
    assert [e.column for e in report.errors] == ["surname", "first_name", "last_name"]


async def test_dry_run_reports_creates_updates_unchanged(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await run(sessions, vault, service, "people", people_csv(4))
    changed = people_csv(4).replace(b"Number1,", b"Renamed1,").replace(b"+12025550002", b"+12025559902")
    data = changed + people_csv(2, start=10).split(b"\n", 1)[1]
    dry = await run(sessions, vault, service, "people", data, dry_run=True)
    assert (dry.created, dry.updated, dry.unchanged, dry.written) == (2, 2, 2, False)
    assert dry.summary() == "6 rows, 2 would be created, 2 would be updated, 2 unchanged"
    assert await counts(sessions, service.id) == (4, 4)
    real = await run(sessions, vault, service, "people", data)
    assert (real.created, real.updated, real.unchanged, real.written) == (2, 2, 2, True)
    assert await counts(sessions, service.id) == (6, 7)  # the changed number is kept, retired
    again = await run(sessions, vault, service, "people", data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


async def test_a_re_import_tells_unchanged_rows_from_changed_ones(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    """The import keeps a digest of each stored person (`load_digests`) and compares a row whole only when
    its digest differs: every kind of change must still be found, and only it written."""
    await run(sessions, vault, service, "people", people_csv(6))
    async with sessions() as db:
        ids = {ext: pid for ext, pid in (await db.execute(select(Person.external_id, Person.id))).all()}
        await db.execute(update(Person).where(Person.id == ids["P-2"]).values(retired_at=utcnow()))
        await db.execute(update(Person).where(Person.id == ids["P-3"]).values(merged_into_id=ids["P-4"]))
        await db.commit()
    before = await counts(sessions, service.id)
    data = (
        people_csv(6)
        .replace(b"+12025550001,", b"+12025550001;+12025559901,")  # a second phone
        .replace(b"+12025550005,en,America/Chicago,yes", b"+12025550005,en,America/Chicago,no")  # consent
        .replace(b"+12025550004,en,", b"+12025550004,es,")  # language
    )
    report = await run(sessions, vault, service, "people", data, skip_bad_rows=True)
    assert (report.created, report.updated, report.unchanged, report.skipped) == (0, 4, 1, 1)
    assert [(e.row, e.column) for e in report.errors] == [(5, "external_id")]  # P-3 was merged into P-4
    assert "merged into another person" in report.errors[0].message
    assert await counts(sessions, service.id) == (before[0], before[1] + 1)  # the second phone
    async with sessions() as db:
        people = {p.external_id: p for p in (await db.scalars(select(Person))).all()}
    assert people["P-2"].retired_at is None and people["P-4"].language == "es"  # reinstated; changed
    again = await run(sessions, vault, service, "people", data, skip_bad_rows=True)
    assert (again.created, again.updated, again.unchanged, again.skipped) == (0, 0, 5, 1)


def test_a_digest_of_what_json_cannot_hold_means_compare_whole() -> None:
    assert person_digest({"consent": {"sms": {"at": datetime(2026, 1, 5, tzinfo=UTC)}}}, 0) is None
    same = person_digest({"preferred_channels": ("sms",), "preferred_name": ""}, 7)
    assert same == person_digest({"preferred_channels": ["sms"], "preferred_name": ""}, 7) is not None
    assert person_digest({"preferred_channels": []}, 0) == person_digest({"preferred_channels": None}, 0)
    assert person_digest({"first_name": "Pat"}, 0) != person_digest({"first_name": "Pat"}, 1)


async def test_full_refresh_closes_missing_cases_within_its_limit(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    await run(sessions, vault, service, "people", people_csv(2))
    refs = [f"C-{i}" for i in range(10)]
    assert (await run(sessions, vault, service, "cases", cases_csv(refs))).created == 10
    # 3 of 10 missing: more than 20%, refused without --force, and nothing is written
    refused = await run(sessions, vault, service, "cases", cases_csv([*refs[3:], "C-new"]), full=True)
    assert refused.closed == 3 and not refused.written and "would close 3 of 10 open cases" in (refused.refused or "")
    async with sessions() as db:
        assert await db.scalar(select(Case).where(Case.external_ref == "C-new", Case.service_id == service.id)) is None
    # 2 of 10: within the limit
    ok = await run(sessions, vault, service, "cases", cases_csv(refs[2:]), full=True)
    assert ok.written and ok.closed == 2 and ok.unchanged == 8
    forced = await run(sessions, vault, service, "cases", cases_csv(refs[5:]), full=True, force=True)
    assert forced.written and forced.closed == 3
    async with sessions() as db:
        closed = (await db.scalars(select(Case).where(Case.service_id == service.id, Case.status == "closed"))).all()
    assert sorted(c.external_ref for c in closed) == refs[:5]
    record = await entries(sessions, next(c.id for c in closed if c.external_ref == "C-0"))
    assert record[-1].summary == "Case C-0 closed: not in the full refresh import"


async def test_xlsx_is_read_like_csv(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["External_ID", "first_name", "last_name", "phone_numbers", "sms_consent", "sms_consent_at"])
    sheet.append(["P-x1", "Lee", "Park", 2025550171, True, None])  # a number typed into Excel
    sheet.append(["P-x2", "Sam", "Lo", "+1 202 555 0172", None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    report = await run(sessions, vault, service, "people", buffer.getvalue(), "export.xlsx")
    assert report.errors == [
        RowError(2, "sms_consent_source", f"consent.sms.source None {SOURCES}"),
        RowError(2, "sms_consent_at", "consent.sms.at is required: a date and time such as 2026-01-31T09:30:00Z"),
    ]
    report = await run(sessions, vault, service, "people", buffer.getvalue(), "export.xlsx", skip_bad_rows=True)
    assert report.created == 1


async def test_the_samples_import_cleanly(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    people = await run(sessions, vault, service, "people", (SAMPLES / "people.csv").read_bytes())
    assert people.errors == [] and people.created == 3
    cases = (SAMPLES / "cases.csv").read_bytes().replace(b"officer@demo.gateway.example", service.team_email.encode())
    report = await run(sessions, vault, service, "cases", cases)
    assert report.errors == [] and report.created == 3
