"""Certified Mail tracking numbers: the mail house's report, recorded on each letter and its case record.

The report is a CSV or text file, one letter a line: `notification id or reference, tracking number`
(a header line naming the columns and blank lines are skipped; references need the service). The
whole file is checked before anything is written, and any problem refuses all of it with every
problem listed by line number:

* a line without exactly two cells, or a tracking number that is not a USPS one (20 to 22 digits for
  domestic Certified Mail, spaces allowed; or the international form, two letters, nine digits, `US`);
* an id or reference of no letter (of the service, when given), or one naming several letters;
* a letter that is not Certified Mail, or not printed yet (no tracking number exists before the batch);
* a letter that already has a different number (a correction is a database matter, not a report's).

A line whose letter already has the same number changes nothing, so a report read twice is harmless.
Each number recorded goes on the notification (`tracking_number`, shown by the API as an extension
field and on the staff letters page) and, when the letter has a case, in the case record.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from gateway.db import Notification
from gateway.db.write_lock import write_lock
from gateway.domain import NotificationStatus, RecordKind
from gateway.letters.postage import Postage
from gateway.letters.returned import letter_filter
from gateway.record import append_entry

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

ACTOR = "gateway:tracking"
_DOMESTIC = re.compile(r"^\d{20,22}$")
_INTERNATIONAL = re.compile(r"^[A-Z]{2}\d{9}US$")
_HEADER = {"notification_id", "id", "reference"}
PRINTED = (NotificationStatus.RECEIVED.value, NotificationStatus.RETURNED_LETTER.value)


class TrackingReportError(Exception):
    """The report was refused; `problems` lists each one as `line N: ...`. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class TrackingResult:
    recorded: list[uuid.UUID] = field(default_factory=list)
    unchanged: list[uuid.UUID] = field(default_factory=list)


def normalise_tracking(raw: str) -> str | None:
    """The number as USPS prints it without spaces, or None when it is not a USPS tracking number."""
    compact = re.sub(r"[\s-]", "", raw).upper()
    return compact if _DOMESTIC.match(compact) or _INTERNATIONAL.match(compact) else None


def read_tracking_report(text: str) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(line number, letter, tracking number) for each line, and the problems found in the lines."""
    lines: list[tuple[int, str, str]] = []
    problems: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() in _HEADER:
            continue
        if len(cells) != 2 or not cells[0] or not cells[1]:
            problems.append(f"line {number}: expected two cells: notification id or reference, tracking number")
            continue
        tracking = normalise_tracking(cells[1])
        if tracking is None:
            problems.append(
                f"line {number}: {cells[1]!r} is not a USPS tracking number (20-22 digits, or AA123456789US)"
            )
            continue
        lines.append((number, cells[0], tracking))
    return lines, problems


async def record_tracking(ctx: JobContext, text: str, service_id: uuid.UUID | None) -> TrackingResult:
    """Check the whole report, then record every number (see the module docstring); TrackingReportError if not."""
    lines, problems = read_tracking_report(text)
    if not lines and not problems:
        problems.append("the report has no lines")
    wanted: dict[uuid.UUID, tuple[int, str]] = {}
    letters: dict[uuid.UUID, Notification] = {}
    async with ctx["sessions"]() as session:
        for number, entry, tracking in lines:
            where = letter_filter(entry, service_id)
            if where is None:
                problems.append(f"line {number}: {entry!r} is not a notification id (give --service for references)")
                continue
            found = list((await session.scalars(select(Notification).where(*where).limit(2))).all())
            problem = _problem(found, entry, tracking, wanted)
            if problem is not None:
                problems.append(f"line {number}: {problem}")
                continue
            wanted[found[0].id] = (number, tracking)
            letters[found[0].id] = found[0]
    if problems:
        raise TrackingReportError(problems)
    result = TrackingResult()
    for nid, (_, tracking) in wanted.items():
        if letters[nid].tracking_number == tracking:
            result.unchanged.append(nid)
            continue
        async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
            done = await session.execute(
                update(Notification)
                .where(Notification.id == nid, Notification.tracking_number.is_(None))
                .values(tracking_number=tracking)
            )
            await session.commit()
        if not getattr(done, "rowcount", 0):  # another run recorded it meanwhile
            result.unchanged.append(nid)
            continue
        result.recorded.append(nid)
        case_id = letters[nid].case_id
        if case_id is not None:
            await append_entry(
                ctx["sessions"], case_id, RecordKind.STATUS, ACTOR, f"Certified Mail tracking number {tracking}",
                {"tracking_number": tracking}, notification_id=nid,
            )  # fmt: skip
    return result


def _problem(
    found: list[Notification], entry: str, tracking: str, wanted: dict[uuid.UUID, tuple[int, str]]
) -> str | None:
    if not found:
        return f"no letter {entry!r}"
    if len(found) > 1:
        return f"the reference {entry!r} names several letters: give the notification id"
    n = found[0]
    if n.postage != Postage.CERTIFIED.value:
        return f"letter {n.id} is not Certified Mail (postage {n.postage})"
    if n.status not in PRINTED:
        return f"letter {n.id} has not been printed yet (status {n.status})"
    if n.tracking_number is not None and n.tracking_number != tracking:
        return f"letter {n.id} already has the tracking number {n.tracking_number}"
    if n.id in wanted and wanted[n.id][1] != tracking:
        return f"letter {n.id} is given another tracking number on line {wanted[n.id][0]}"
    return None
