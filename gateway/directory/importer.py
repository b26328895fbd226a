"""Importing people, cases or appointments from a case-management export: `gateway import
people|cases|appointments FILE` and the admin upload page both call `import_table` (bytes + file name
+ options -> `ImportReport`). Appointments have their own rows and writes
(`gateway.appointments.importer`) on the same report, options, checks and safety limit.

1. Read the table (`sheets`), check its columns, and load the service's stored people or cases once.
2. Validate every row (`person_fields` / `case_fields`, the same checks as the API) and compare it
   in memory with what is stored. Errors carry row and column; the report keeps the first 50.
   Any bad row stops the import before anything is written, unless `skip_bad_rows`.
3. `dry_run` stops here and reports creates / updates / unchanged (and, with `full`, closures).
4. `full` (cases): open cases missing from the file are closed. If that is more than
   `FULL_REFRESH_LIMIT` of the service's open cases the import refuses, unless `force`.
5. Write in chunks with Core statements (`people.write_people`, `cases.write_cases`), all in ONE
   transaction: a failure part way leaves nothing half-imported.

`progress(stage, done, total)` is called as rows are checked and written (the CLI draws a bar).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db.base import utcnow
from gateway.db.write_lock import write_lock
from gateway.directory import columns as cols
from gateway.directory.case_fields import CaseInput, load_names, validate_case
from gateway.directory.cases import CASES, CasePlan, check_reference, load_cases, plan_case, write_cases
from gateway.directory.fields import FieldErrors
from gateway.directory.people import (
    MERGED,
    PersonPlan,
    load_digests,
    load_people,
    new_digest,
    person_entries,
    plan_person,
    write_people,
)
from gateway.directory.person_fields import PersonInput, check_external_id, validate_person
from gateway.directory.sheets import SheetError, read_sheet
from gateway.directory.visibility import hidden_people
from gateway.domain import CaseStatus, RecordKind
from gateway.recipients import DEFAULT_REGION
from gateway.record import NewEntry, append_many

MAX_ERRORS_SHOWN = 50
FULL_REFRESH_LIMIT = 0.20
CHUNK = 2000
Progress = Callable[[str, int, int], None]
KINDS = ("people", "cases", "appointments")
PersonRow = tuple[str, PersonInput, bool]  # a good row of a people import: external id, values, stored already


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    skip_bad_rows: bool = False
    full: bool = False
    force: bool = False
    region: str = DEFAULT_REGION
    now: datetime | None = None  # the gateway's clock, for appointments (has one started?); None: real time


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.message}"


@dataclass
class ImportReport:
    """What an import found and did. `written` is False for a dry run, a refusal, or bad rows."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    cancelled: int = 0  # appointments a full refresh cancels
    skipped: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)  # the first MAX_ERRORS_SHOWN
    refused: str | None = None
    written: bool = False
    deliver: list[uuid.UUID] = field(default_factory=list)  # for delivery after the commit (appointments)

    def error(self, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_SHOWN:
            self.errors.append(RowError(row, column, message))

    def field_errors(self, row: int, exc: FieldErrors) -> None:
        for name, message in exc.errors.items():
            self.error(row, cols.column_of(name), f"{name} {message}" if "." in name or "[" in name else message)

    def summary(self) -> str:
        what = "would be" if not self.written else "were"
        parts = [f"{self.rows} rows", f"{self.created} {what} created", f"{self.updated} {what} updated"]
        parts.append(f"{self.unchanged} unchanged")
        if self.kind == "cases" and (self.closed or self.refused):
            parts.append(f"{self.closed} {what} closed")
        if self.kind == "appointments" and (self.cancelled or self.refused):
            parts.append(f"{self.cancelled} {what} cancelled")
        if self.skipped:
            parts.append(f"{self.skipped} bad rows skipped")
        return ", ".join(parts)


async def import_table(
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    vault: Vault,
    service_id: uuid.UUID,
    kind: str,
    data: bytes,
    filename: str,
    options: ImportOptions,
    actor: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row, then (unless a dry run, bad rows or a refused full refresh) write them all."""
    report = ImportReport(kind)
    tick = progress or (lambda stage, done, total: None)
    try:
        sheet = read_sheet(data, filename)
    except SheetError as exc:
        report.error(1, "-", str(exc))
        return report
    known, required = cols.COLUMNS[kind]
    for name in sheet.header:
        if name and name not in known:
            report.error(1, name, f"is not a column of a {kind} import ({', '.join(known)})")
    for name in required:
        if name not in sheet.header:
            report.error(1, name, "is a required column and is missing")
    if report.error_count:
        return report
    report.rows = len(sheet.rows)
    async with write_lock(engine), sessions() as db:
        if kind == "people":
            await _people(db, vault, service_id, sheet.records(), report, options, actor, tick)
        elif kind == "appointments":
            from gateway.appointments.importer import import_appointments  # it builds on this module

            await import_appointments(db, vault, service_id, sheet.records(), report, options, actor, tick)
        else:
            await _cases(db, service_id, sheet.records(), report, options, actor, tick)
        if report.written:
            await db.commit()
    return report


def _stop(report: ImportReport, options: ImportOptions) -> bool:
    """True when nothing may be written: bad rows (without skip), or a dry run."""
    if report.error_count and not options.skip_bad_rows:
        return True
    return options.dry_run


async def _people(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    records: Any,
    report: ImportReport,
    options: ImportOptions,
    actor: str,
    tick: Progress,
) -> None:
    # What is stored, compactly (`PersonDigest`): a row whose digest matches is unchanged at once; the
    # others are compared whole with their full state, loaded a chunk at a time when they are written
    # (`_plan`), or, when nothing will be written, to count them.
    stored = await load_digests(db, service_id)
    hidden = await hidden_people(db, service_id)
    seen: dict[str, int] = {}
    good: list[PersonRow] = []
    for done, (number, row) in enumerate(records, start=1):
        if done % CHUNK == 0:
            tick("checking", done, report.rows)
        external_id = row.get("external_id", "").strip()
        fields, errors = cols.person_fields(row)
        try:
            check_external_id(external_id)
        except FieldErrors as exc:
            errors.update(exc.errors)
        if external_id in seen:
            errors["external_id"] = f"{external_id!r} appears again (first on row {seen[external_id]})"
        state = stored.get(external_id)
        if state is not None and state.id in hidden:
            errors["external_id"] = f"{external_id!r} cannot be written through this service"
        if state is not None and state.merged:
            errors["external_id"] = MERGED
        seen.setdefault(external_id, number)
        try:
            person = validate_person(fields, options.region)
        except FieldErrors as exc:
            errors = {**exc.errors, **errors}
        if errors:
            report.field_errors(number, FieldErrors(errors))
            report.skipped += 1
        elif state is None:
            report.created += 1
            good.append((external_id, person, False))
        elif not state.retired and state.digest is not None and state.digest == new_digest(vault, person):
            report.unchanged += 1  # a re-import of an unchanged file holds nothing per row
        else:
            good.append((external_id, person, True))
    del stored
    tick("checking", report.rows, report.rows)
    stop = _stop(report, options)
    for start in range(0, len(good), CHUNK):
        plans = await _plan(db, vault, service_id, good[start : start + CHUNK], report)
        if not stop:
            await write_people(db, plans)
            await append_many(db, await person_entries(db, plans, actor))
            tick("writing", min(start + CHUNK, len(good)), len(good))
    report.written = not stop


async def _plan(
    db: AsyncSession, vault: Vault, service_id: uuid.UUID, rows: list[PersonRow], report: ImportReport
) -> list[PersonPlan]:
    """Plans for a chunk of new rows and rows whose digest differed, those compared whole with their stored
    state (counted as updated, or unchanged after all): the plans that write something."""
    existing = [ext for ext, _, stored in rows if stored]
    states = await load_people(db, service_id, existing) if existing else {}
    plans = [plan_person(vault, service_id, ext, states.get(ext), person) for ext, person, _ in rows]
    changed = [plan for plan in plans if plan.changed]
    report.updated += len(existing) - (len(plans) - len(changed))
    report.unchanged += len(plans) - len(changed)
    return changed


async def _cases(
    db: AsyncSession,
    service_id: uuid.UUID,
    records: Any,
    report: ImportReport,
    options: ImportOptions,
    actor: str,
    tick: Progress,
) -> None:
    stored = await load_cases(db, service_id)
    names = await load_names(db, service_id)
    seen: dict[str, int] = {}
    plans: list[CasePlan] = []
    for done, (number, row) in enumerate(records, start=1):
        if done % CHUNK == 0:
            tick("checking", done, report.rows)
        reference = row.get("reference", "").strip()
        try:
            check_reference(reference)
            if reference in seen:
                raise FieldErrors({"reference": f"{reference!r} appears again (first on row {seen[reference]})"})
            seen[reference] = number
            new: CaseInput = validate_case(cols.case_fields(row))
            plan = plan_case(service_id, reference, stored.get(reference), new, names, actor)
        except FieldErrors as exc:
            report.field_errors(number, exc)
            report.skipped += 1
            continue
        if not plan.changed:
            report.unchanged += 1
        elif plan.created:
            report.created += 1
        else:
            report.updated += 1
        plans.append(plan if plan.changed else _UNCHANGED)
    tick("checking", report.rows, report.rows)
    closing: list[tuple[uuid.UUID, str]] = []
    if options.full:
        open_cases = [(ref, s) for ref, s in stored.items() if s.values["status"] == CaseStatus.OPEN.value]
        closing = [(s.id, ref) for ref, s in open_cases if ref not in seen]
        report.closed = len(closing)
        if open_cases and len(closing) > FULL_REFRESH_LIMIT * len(open_cases) and not options.force:
            report.refused = (
                f"The full refresh would close {len(closing)} of {len(open_cases)} open cases "
                f"(more than {FULL_REFRESH_LIMIT:.0%}); check the file, or run again with --force"
            )
    if _stop(report, options) or report.refused:
        return
    changed = [p for p in plans if p is not _UNCHANGED]
    for start in range(0, len(changed), CHUNK):
        await write_cases(db, service_id, changed[start : start + CHUNK])
        tick("writing", min(start + CHUNK, len(changed)), len(changed))
    await _close(db, closing, actor)
    report.written = True


_UNCHANGED = CasePlan(uuid.UUID(int=0), "", False, [], {}, None, False)
_CLOSE = (
    update(CASES)
    .where(CASES.c.id == bindparam("b_id"), CASES.c.status == CaseStatus.OPEN.value)
    .values(status=CaseStatus.CLOSED.value, closed_at=bindparam("b_at"), updated_at=bindparam("b_at"))
)


async def _close(db: AsyncSession, closing: list[tuple[uuid.UUID, str]], actor: str) -> None:
    """Close the open cases a full refresh did not find, each with a record line saying why."""
    now = utcnow()
    for start in range(0, len(closing), CHUNK):
        chunk = closing[start : start + CHUNK]
        await db.execute(_CLOSE, [{"b_id": case_id, "b_at": now} for case_id, _ in chunk])
        await append_many(
            db,
            [
                NewEntry(
                    case_id,
                    RecordKind.DETAILS,
                    actor,
                    f"Case {ref} closed: not in the full refresh import",
                    {"reference": ref, "fields": ["status"]},
                )
                for case_id, ref in chunk
            ],
        )
