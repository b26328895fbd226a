"""Importing appointments from a court or case-management export: `gateway import appointments FILE`
and the admin upload page, through `gateway.directory.importer.import_table` (the same file reading,
column check, report, dry run, progress and safety limit as people and cases).

Each row is checked exactly as `PUT /v2/appointments/{external_id}` checks a body
(`fields.validate_appointment`, `store.plan_appointment`), against the service's cases, people and
staff loaded once. A row that changes nothing is counted and let go: a daily file of unchanged rows
writes nothing, records nothing and plans no reminders again.

`full` (the Courtbot / ClientComm pattern: the source drops and regenerates every row each day):
appointments of the service with an external id that are still to come and still on (not
cancelled, attended or missed) but missing from the file are cancelled, each with a record line
saying so. If that is more than `FULL_REFRESH_LIMIT` of those appointments the import refuses and
says so, unless `force`. Past appointments missing from the file are left alone (sources drop them).
With `full` the file is the whole truth both ways: an upcoming appointment cancelled here that the
file lists again (without a `status`) is reinstated, scheduled, and its reminders planned again.

Writes go in chunks: each chunk's rows, record lines and ONE call of the reminders hook
(`store.apply_plans`), all in the import's one transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import FINISHED, AppointmentStatus
from gateway.appointments.fields import FIELDS, AppointmentInput, check_external_id, validate_appointment
from gateway.appointments.lookups import load_lookups
from gateway.appointments.store import (
    AppointmentPlan,
    Stored,
    apply_plans,
    load_stored,
    plan_appointment,
    status_plan,
)
from gateway.crypto import Vault
from gateway.db.base import utcnow
from gateway.db.engine import analyze_in_transaction
from gateway.directory.fields import FieldErrors
from gateway.directory.importer import CHUNK, FULL_REFRESH_LIMIT, ImportOptions, ImportReport, Progress

CANCEL_REASON = " (not in the full refresh import)"


async def import_appointments(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    records: Iterable[tuple[int, dict[str, str]]],
    report: ImportReport,
    options: ImportOptions,
    actor: str,
    tick: Progress,
) -> None:
    now = options.now or utcnow()
    stored = await load_stored(db, vault, service_id)  # what is left in it at the end is missing from the file
    names = await load_lookups(db, service_id)
    seen: dict[str, int] = {}
    upcoming_in_file = 0
    # Rows that change something, kept small (the checked input and what was stored, not the plan):
    # planned again chunk by chunk when written, so 100,000 rows are never 100,000 plans in memory.
    good: list[tuple[str, AppointmentInput, Stored | None]] = []
    for done, (number, row) in enumerate(records, start=1):
        if done % CHUNK == 0:
            tick("checking", done, report.rows)
        external_id = row.get("external_id", "").strip()
        before = None
        try:
            check_external_id(external_id)
            if external_id in seen:
                raise FieldErrors({"external_id": f"{external_id!r} appears again (first on row {seen[external_id]})"})
            seen[external_id] = number
            before = stored.pop(external_id, None)
            if before is not None and _upcoming(before, now):
                upcoming_in_file += 1
            new = validate_appointment(row_fields(row))
            if options.full and new.status is None and before is not None and _back(before, now):
                new = dataclasses.replace(new, status=AppointmentStatus.SCHEDULED.value)  # the file says it is on
            plan = plan_appointment(service_id, external_id, before, new, names, actor=actor, now=now, source="import")
        except FieldErrors as exc:
            report.field_errors(number, exc)
            report.skipped += 1
            continue
        if not plan.changed:  # compared and let go: an unchanged daily file holds nothing per row
            report.unchanged += 1
            continue
        if plan.created:
            report.created += 1
        else:
            report.updated += 1
        good.append((external_id, new, before))
    tick("checking", report.rows, report.rows)
    missing: list[Stored] = []
    if options.full:
        missing = [s for s in stored.values() if _upcoming(s, now)]
        report.cancelled = len(missing)
        active = len(missing) + upcoming_in_file
        if active and len(missing) > FULL_REFRESH_LIMIT * active and not options.force:
            report.refused = (
                f"The full refresh would cancel {len(missing)} of {active} upcoming appointments "
                f"(more than {FULL_REFRESH_LIMIT:.0%}); check the file, or run again with --force"
            )
    if (report.error_count and not options.skip_bad_rows) or options.dry_run or report.refused:
        return
    total, done = len(good) + len(missing), 0
    for start in range(0, len(good), CHUNK):
        plans = [
            plan_appointment(service_id, ext, before, new, names, actor=actor, now=now, source="import")
            for ext, new, before in good[start : start + CHUNK]
        ]
        report.deliver += await apply_plans(db, vault, plans, now=now)
        done += len(plans)
        tick("writing", done, total)
        if start == 0 and len(good) > CHUNK:
            await analyze_in_transaction(db, "appointments", "notifications", "record_entries")
    for start in range(0, len(missing), CHUNK):
        plans = [_cancel(s, actor, now) for s in missing[start : start + CHUNK]]
        report.deliver += await apply_plans(db, vault, plans, now=now)
        done += len(plans)
        tick("writing", done, total)
    report.written = True


def _upcoming(s: Stored, now: datetime) -> bool:
    """Still to come and still on: what a full refresh may cancel."""
    return s.values["status"] not in FINISHED and s.values["starts_at"] > now


def _back(s: Stored, now: datetime) -> bool:
    """Cancelled and still to come: a full refresh that lists it again reinstates it."""
    return bool(s.values["status"] == AppointmentStatus.CANCELLED.value and s.values["starts_at"] > now)


def _cancel(s: Stored, actor: str, now: datetime) -> AppointmentPlan:
    plan = status_plan(s, AppointmentStatus.CANCELLED.value, actor=actor, now=now)
    if plan.record is not None:
        plan.record = dataclasses.replace(plan.record, summary=plan.record.summary + CANCEL_REASON)
    return plan


def row_fields(row: dict[str, str]) -> dict[str, Any]:
    """A row's cells as the API's fields (blank cells are left out)."""
    return {name: row[name] for name in FIELDS if row.get(name, "").strip()}
