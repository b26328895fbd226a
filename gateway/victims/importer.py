"""`gateway events import FILE --service ID`: a batch of offender events (the weekly preliminary list).

A CSV or XLSX (`gateway.directory.sheets`) with the columns `event_id`, `case_reference`, `kind` and
the detail fields the kinds take (`date`, `scheduled_date`, `supervision_type`, `town`, `facility`,
`hearing_type`, `result`, `level`, `status`, `deadline`; blank = not given). Every row is checked
first (the kind's fields, the case is one of the service's) and nothing is written while any row is
bad, unless `--skip-bad-rows`; `--dry-run` only checks. Rows are idempotent by `event_id`, as the
API is, so importing the same file again writes nothing new. Each new event's fan-out is enqueued
(scaled mode) or left to the running gateway's sweeper, which fans out events it finds waiting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gateway.db import Case, OffenderEvent, Service
from gateway.db.write_lock import write_lock
from gateway.directory.sheets import Sheet
from gateway.domain import ServiceKind
from gateway.victims.events import FAN_OUT, EventConflict, check_event, fan_out_job_id, record_event
from gateway.victims.kinds import KINDS, EventInvalid

DETAIL_COLUMNS = sorted({f.name for k in KINDS.values() for f in k.fields})
REQUIRED_COLUMNS = ("event_id", "case_reference", "kind")


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    repeated: int = 0
    errors: list[str] = field(default_factory=list)
    event_ids: list[uuid.UUID] = field(default_factory=list)


def row_body(record: dict[str, str]) -> dict[str, Any]:
    kind = record.get("kind", "").strip()
    known = {f.name for f in KINDS[kind].fields} if kind in KINDS else set()
    details: dict[str, Any] = {}
    for name in DETAIL_COLUMNS:
        value = record.get(name, "").strip()
        if not value:
            continue
        if name not in known:
            details[name] = value  # refused by the check, naming the column
        else:
            details[name] = int(value) if name == "level" and value.isdigit() else value
    return {"event_id": record.get("event_id", "").strip(), "kind": kind, "details": details}


async def import_events(
    ctx: Any, service_id: uuid.UUID, sheet: Sheet, *, dry_run: bool = False, skip_bad_rows: bool = False
) -> ImportReport:
    report = ImportReport()
    missing = [c for c in REQUIRED_COLUMNS if c not in sheet.header]
    if missing:
        report.errors.append(f"the file has no column {', '.join(missing)} (columns: {', '.join(sheet.header)})")
        return report
    unknown = [c for c in sheet.header if c not in (*REQUIRED_COLUMNS, *DETAIL_COLUMNS)]
    if unknown:
        report.errors.append(
            f"unknown columns {', '.join(unknown)}: use {', '.join(REQUIRED_COLUMNS + tuple(DETAIL_COLUMNS))}"
        )
        return report
    good: list[tuple[int, str, dict[str, Any]]] = []
    async with ctx["sessions"]() as session:
        service = await session.get(Service, service_id)
        if service is None or service.kind == ServiceKind.VICTIM_SERVICES.value:
            report.errors.append("the service must be an offender-facing service (not victim services)")
            return report
        refs = set((await session.scalars(select(Case.external_ref).where(Case.service_id == service_id))).all())
    for number, record in sheet.records():
        report.rows += 1
        reference = record.get("case_reference", "").strip()
        body = row_body(record)
        try:
            check_event(reference, body)
        except EventInvalid as exc:
            report.errors += [f"row {number}: {e}" for e in exc.errors]
            continue
        if reference not in refs:
            report.errors.append(f"row {number}: case_reference {reference} is not a case of this service")
            continue
        good.append((number, reference, body))
    if dry_run or (report.errors and not skip_bad_rows):
        return report
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        for number, reference, body in good:
            try:
                event, created = await record_event(session, service_id, reference, body)
            except EventConflict as exc:
                report.errors.append(f"row {number}: {exc}")
                continue
            if created:
                report.new += 1
                report.event_ids.append(event.id)
            else:
                report.repeated += 1
        if report.errors and not skip_bad_rows:
            await session.rollback()
            report.new, report.event_ids = 0, []
            return report
        await session.commit()
    return report


async def enqueue_fan_outs(ctx: Any, event_ids: list[uuid.UUID]) -> None:
    for event_id in event_ids:
        await ctx["queue"].enqueue(FAN_OUT, str(event_id), job_id=fan_out_job_id(event_id), priority=True)


__all__ = ["ImportReport", "OffenderEvent", "enqueue_fan_outs", "import_events"]
