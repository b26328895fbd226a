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

Writes go in chunks: each chunk's rows, record lines and ONE call of the reminders hook
(`store.apply_plans`), all in the import's one transaction.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import FINISHED, AppointmentStatus
from gateway.appointments.fields import FIELDS, check_external_id, validate_appointment
from gateway.appointments.lookups import load_lookups
from gateway.appointments.store import AppointmentPlan, apply_plans, load_stored, plan_appointment, status_plan
from gateway.crypto import Vault
from gateway.db.base import utcnow
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
    stored = await load_stored(db, vault, service_id)
    names = await load_lookups(db, service_id)
    seen: dict[str, int] = {}
    plans: list[AppointmentPlan] = []
    for done, (number, row) in enumerate(records, start=1):
        if done % CHUNK == 0:
            tick("checking", done, report.rows)
        external_id = row.get("external_id", "").strip()
        try:
            check_external_id(external_id)
            if external_id in seen:
                raise FieldErrors({"external_id": f"{external_id!r} appears again (first on row {seen[external_id]})"})
            seen[external_id] = number
            new = validate_appointment(row_fields(row))
            plan = plan_appointment(
                service_id, external_id, stored.get(external_id), new, names, actor=actor, now=now, source="import"
            )
        except FieldErrors as exc:
            report.field_errors(number, exc)
            report.skipped += 1
            continue
        if not plan.changed:
            report.unchanged += 1
            continue
        if plan.created:
            report.created += 1
        else:
            report.updated += 1
        plans.append(plan)
    tick("checking", report.rows, report.rows)
    cancelling: list[AppointmentPlan] = []
    if options.full:
        active = [s for s in stored.values() if s.values["status"] not in FINISHED and s.values["starts_at"] > now]
        missing = [s for s in active if s.external_id not in seen]
        report.cancelled = len(missing)
        if active and len(missing) > FULL_REFRESH_LIMIT * len(active) and not options.force:
            report.refused = (
                f"The full refresh would cancel {len(missing)} of {len(active)} upcoming appointments "
                f"(more than {FULL_REFRESH_LIMIT:.0%}); check the file, or run again with --force"
            )
        for s in missing:
            plan = status_plan(s, AppointmentStatus.CANCELLED.value, actor=actor, now=now)
            if plan.record is not None:
                plan.record = dataclasses.replace(plan.record, summary=plan.record.summary + CANCEL_REASON)
            cancelling.append(plan)
    if (report.error_count and not options.skip_bad_rows) or options.dry_run or report.refused:
        return
    todo = plans + cancelling
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        report.deliver += await apply_plans(db, vault, chunk, now=now)
        tick("writing", start + len(chunk), len(todo))
    report.written = True


def row_fields(row: dict[str, str]) -> dict[str, Any]:
    """A row's cells as the API's fields (blank cells are left out)."""
    return {name: row[name] for name in FIELDS if row.get(name, "").strip()}
