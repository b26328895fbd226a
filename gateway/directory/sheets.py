"""Reading an uploaded table (CSV or XLSX) into a header and rows of text.

CSV is read as UTF-8 (a byte-order mark, as Excel writes, is allowed); XLSX by python-calamine, its
first sheet. Spreadsheet cells become the text a person sees: a whole number without ".0" (a
phone number typed into Excel is a number), a date as ISO 8601. Row numbers are the spreadsheet's
(the header is row 1), so an error names the row a person finds in their program.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time

from python_calamine import CalamineWorkbook


class SheetError(ValueError):
    """The file cannot be read as a table at all; the message says why."""


@dataclass
class Sheet:
    header: list[str]
    rows: list[tuple[int, list[str]]]  # (row number, cells)

    def records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Each row as {column: text}, once: rows are let go as they are read (a 100,000-row file
        would otherwise be held twice, as cells and as what was made of them)."""
        width = len(self.header)
        self.rows.reverse()
        while self.rows:
            number, cells = self.rows.pop()
            padded = cells[:width] + [""] * (width - len(cells))
            yield number, dict(zip(self.header, padded, strict=True))


def read_sheet(data: bytes, filename: str) -> Sheet:
    """The table in `data`: XLSX when the name ends .xlsx (or the bytes are a zip), CSV otherwise."""
    spreadsheet = filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"
    table = _xlsx(data) if spreadsheet else _csv(data)
    if not table or not any(cell.strip() for cell in table[0]):
        raise SheetError("The file is empty: the first row must name the columns")
    header = [cell.strip().lower() for cell in table[0]]
    rows = [(i, cells) for i, cells in enumerate(table[1:], start=2) if any(c.strip() for c in cells)]
    return Sheet(header, rows)


def _csv(data: bytes) -> list[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SheetError(f"The file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8") from None
    return list(csv.reader(io.StringIO(text, newline="")))


def _xlsx(data: bytes) -> list[list[str]]:
    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        return [[_cell(value) for value in row] for row in sheet.to_python(skip_empty_area=False)]
    except Exception as exc:  # calamine raises its own errors for a damaged or foreign file
        raise SheetError(f"The file cannot be read as a spreadsheet ({type(exc).__name__})") from None


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)
