"""An uploaded list of recipients (a staff member's CSV/XLSX, or the bulk API's `rows` / `csv`), checked
row by row as GC Notify checks a bulk send.

The header names a recipient column — `phone number` or `email address` (also `phone`, `mobile`,
`email`; spaces, case and underscores do not matter) — and one column per value the content needs.
Header problems refuse the whole list ("Missing column headers: name", "Duplicate column headers:
name, NAME"); a row problem names the row and the column ("Row 2 - phone number: invalid recipient",
"Row 1 - name: Missing"). Extra columns are allowed and ignored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from gateway.broadcasts.audience import Recipient
from gateway.broadcasts.content import key
from gateway.domain import Channel
from gateway.recipients import InvalidRecipient, normalise_email, normalise_phone

RECIPIENT_COLUMNS = {
    Channel.SMS: ("phone_number", "phone", "mobile", "mobile_number", "telephone"),
    Channel.EMAIL: ("email_address", "email"),
}
GC_NAMES = {Channel.SMS: "phone number", Channel.EMAIL: "email address"}


class HeaderError(ValueError):
    """The list cannot be used at all; the message says why, in GC Notify's words."""


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    message: str

    def gc_notify(self) -> str:
        return f"Row {self.row} - {self.column}: {self.message}"


@dataclass
class CheckedList:
    recipients: list[Recipient] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    bad_rows: int = 0
    channel: Channel = Channel.SMS


def read_csv_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def recipient_column(header: Sequence[str], channels: Iterable[Channel]) -> tuple[Channel, int]:
    """The channel and index of the recipient column; HeaderError naming what is missing."""
    keys = [key(h) for h in header]
    wanted = list(channels)
    for channel in wanted:
        for name in RECIPIENT_COLUMNS[channel]:
            if name in keys:
                return channel, keys.index(name)
    raise HeaderError("Missing column headers: " + " or ".join(GC_NAMES[c] for c in wanted))


def check_list(
    header: Sequence[str],
    rows: Iterable[tuple[int, Sequence[str]]],
    *,
    fields: Sequence[str],
    channels: Iterable[Channel],
    region: str,
) -> CheckedList:
    """Check every row; the good ones as recipients (values by column), the problems by row and column."""
    shown = [h.strip() for h in header]
    keys = [key(h) for h in shown]
    duplicates = [h for h in shown if keys.count(key(h)) > 1 and h]
    if duplicates:
        raise HeaderError("Duplicate column headers: " + ", ".join(duplicates))
    channel, at = recipient_column(shown, channels)
    missing = [f for f in fields if key(f) not in keys]
    if missing:
        raise HeaderError("Missing column headers: " + ", ".join(missing))
    wanted = [(keys.index(key(f)), f) for f in fields]
    normalise = normalise_phone if channel is Channel.SMS else None
    checked = CheckedList(channel=channel)
    width = len(keys)
    for number, cells in rows:
        cells = list(cells[:width]) + [""] * (width - len(cells))
        problems = []
        raw = str(cells[at]).strip()
        address = ""
        if not raw:
            problems.append(RowError(number, shown[at], "Missing"))
        else:
            try:
                address = normalise(raw, region) if normalise else normalise_email(raw)
            except InvalidRecipient:
                problems.append(RowError(number, shown[at], "invalid recipient"))
        for index, _name in wanted:
            if not str(cells[index]).strip():
                problems.append(RowError(number, shown[index], "Missing"))
        if problems:
            checked.errors += problems
            checked.bad_rows += 1
            continue
        values = {k: str(v).strip() for k, v in zip(keys, cells, strict=True) if k and k != keys[at]}
        checked.recipients.append(Recipient(channel, address, values, label=f"row {number}"))
    return checked
