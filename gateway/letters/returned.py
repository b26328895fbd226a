"""Returned mail: the mail house's report of letters that came back, recorded against each letter.

The report is a text or CSV file; the first cell of each line is a notification id or the letter's
reference (a header line and blank lines are skipped; references need the service). Each letter
that was `received` (printed) becomes `returned-letter` through one guarded transition, so a report
read twice changes nothing the second time. What follows each change is what follows every status
change (`after_status_changes`): a case record entry, a live push to the service's staff browsers
(the case's staff see it at once; victim services escalate on it), and the service's delivery-receipt
callback with status `returned-letter`.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.db import Notification
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.receipts import after_status_changes
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


def read_report(text: str) -> list[str]:
    """The first cell of each non-blank line (a header naming a column is skipped)."""
    cells = [row[0].strip() for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    if cells and cells[0].lower() in {"notification_id", "id", "reference"}:
        cells = cells[1:]
    return cells


def _as_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def record_returned(ctx: JobContext, entries: list[str], service_id: uuid.UUID | None) -> ReturnedReport:
    """Mark each listed letter `returned-letter` (see the module docstring)."""
    report = ReturnedReport()
    for entry in entries:
        nid = _as_id(entry)
        where = [Notification.channel == Channel.LETTER.value]
        if service_id is not None:
            where.append(Notification.service_id == service_id)
        if nid is not None:
            where.append(Notification.id == nid)
        elif service_id is not None:
            where.append(Notification.reference == entry)
        else:
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
            await session.commit()
        if not moved:
            report.unchanged.append(entry)
            continue
        changed = {nid for nid, _ in moved}
        await after_status_changes(
            ctx, [(n, S.RETURNED_LETTER) for n in found if n.id in changed], record=True, actor=ACTOR
        )
        report.returned += sorted(changed)
    return report
