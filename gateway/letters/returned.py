"""Returned mail: the mail house's report of letters that came back, recorded against each letter.

The report is a text or CSV file; the first cell of each line is a notification id or the letter's
reference (a header line and blank lines are skipped; references need the service). Each letter
that was `received` (printed) becomes `returned-letter` through one guarded transition, so a report
read twice changes nothing the second time. What follows each change is what follows every status
change (`after_status_changes`): a live push to the service's staff browsers, the service's
delivery-receipt callback with status `returned-letter`, and a case record entry (which here also
says who was alerted, or why no one was). Then what only returned mail gets:

* Notify's separate `returned_letter` callback, when the service has set one (`callback.py`);
* an email alert to the case's handler (`alert.py`; victim services escalate on it), written in the
  same transaction as the transition, so each returned letter has its alert exactly once.

The staff letters page's returned-mail form calls the same `record_returned`.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, select

from gateway.api.intake import insert_notifications
from gateway.db import Notification
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, NotificationStatus, RecordKind
from gateway.jobs.delivery import enqueue_deliveries
from gateway.jobs.receipts import after_status_changes
from gateway.letters.alert import alert_rows
from gateway.letters.callback import SEND_RETURNED_LETTER, job_id
from gateway.record import append_entry
from gateway.transitions import transition_many

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

S = NotificationStatus
ACTOR = "gateway:returned-mail"


@dataclass
class ReturnedReport:
    returned: list[uuid.UUID] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # already returned, or never printed
    unknown: list[str] = field(default_factory=list)
    alerted: int = 0  # case handlers emailed


def read_report(text: str) -> list[str]:
    """The first cell of each non-blank line (a header naming a column is skipped)."""
    cells = [row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    if cells and cells[0].lower() in {"notification_id", "id", "reference"}:
        cells = cells[1:]
    return cells


def letter_filter(entry: str, service_id: uuid.UUID | None) -> list[ColumnElement[bool]] | None:
    """The conditions that find the letter a mail house's report names by `entry`: a notification id, or a
    reference within `service_id`. None when it is a reference and no service was given (it means nothing)."""
    where = [Notification.channel == Channel.LETTER.value]
    if service_id is not None:
        where.append(Notification.service_id == service_id)
    try:
        where.append(Notification.id == uuid.UUID(entry))
    except ValueError:
        if service_id is None:
            return None
        where.append(Notification.reference == entry)
    return where


async def record_returned(
    ctx: JobContext, entries: list[str], service_id: uuid.UUID | None, actor: str = ACTOR
) -> ReturnedReport:
    """Mark each listed letter `returned-letter` (see the module docstring); `actor` names who reported it."""
    report = ReturnedReport()
    for entry in entries:
        where = letter_filter(entry, service_id)
        if where is None:
            report.unknown.append(entry)  # a reference means nothing without its service
            continue
        async with ctx["sessions"]() as session:
            found = (await session.scalars(select(Notification).where(*where))).all()
        if not found:
            report.unknown.append(entry)
            continue
        async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
            moved = await transition_many(
                session,
                [Notification.id.in_([n.id for n in found])],
                expected=S.RECEIVED,
                to=S.RETURNED_LETTER,
                detail="returned by the mail house",
                failure_reason="returned-letter: returned by the mail house",
            )
            changed = {nid for nid, _ in moved}
            letters = [n for n in found if n.id in changed]
            alerts, outcomes = await alert_rows(session, ctx["vault"], ctx["settings"], letters)
            if alerts:
                await insert_notifications(await session.connection(), alerts)
            await session.commit()
        if not moved:
            report.unchanged.append(entry)
            continue
        await _follow_up(ctx, letters, [row["id"] for row in alerts], outcomes, actor)
        report.returned += sorted(changed)
        report.alerted += len(alerts)
    return report


async def _follow_up(
    ctx: JobContext, letters: list[Notification], alerts: list[uuid.UUID], outcomes: dict[uuid.UUID, str], actor: str
) -> None:
    for n in letters:
        n.status = S.RETURNED_LETTER.value
    # live push and receipt callback; the record entry is written below, with who was alerted
    await after_status_changes(ctx, [(n, S.RETURNED_LETTER) for n in letters], record=False, actor=actor)
    if alerts:
        await enqueue_deliveries(ctx["queue"], alerts)
    for n in letters:
        await ctx["queue"].enqueue(SEND_RETURNED_LETTER, str(n.id), job_id=job_id(n.id))
        if n.case_id is not None:
            summary = f"letter message returned-letter; {outcomes[n.id]}"
            data = {"status": S.RETURNED_LETTER.value, "alert": outcomes[n.id]}
            await append_entry(
                ctx["sessions"], n.case_id, RecordKind.STATUS, actor, summary, data, notification_id=n.id
            )
