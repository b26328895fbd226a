"""A print batch's two files: one print-ready PDF and its manifest CSV, written atomically.

Templated letters are drawn into one reportlab canvas (the fonts embedded once; ~1 ms a letter),
each padded to whole sheets for duplex printing; precompiled letters' own pages follow, padded the
same way (pdfium imports them). The manifest has a row per letter in print order: where it starts in
the PDF, how many pages and sheets it takes, its postage, ZIP code and destination country.

Files are written under a temporary name and renamed into place, so a crash leaves either the old
file or the new one, never half of one; writing a batch again gives the same letters in the same order.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.letters.layout import PAGE_HEIGHT, PAGE_WIDTH
from gateway.letters.pdf import LetterContent, draw_letter, new_canvas

MANIFEST_COLUMNS = (
    "sequence", "notification_id", "reference", "first_page", "pages", "sheets", "postage", "zip", "country",
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class PrintItem:
    """One letter of a batch: its content (templated) or its own PDF (precompiled), and its manifest data."""

    notification_id: uuid.UUID
    reference: str | None
    postage: str
    zip_code: str | None
    country: str
    content: LetterContent | None = None
    pdf: bytes | None = None


@dataclass(frozen=True)
class Written:
    pdf_path: Path
    manifest_path: Path
    letters: int
    sheets: int


def write_batch(
    items: Sequence[PrintItem],
    pdf_path: Path,
    manifest_path: Path,
    title: str,
    logos: Mapping[str, bytes] | None = None,
) -> Written:
    """Write the batch PDF and manifest for `items` (blocking: run it in a thread); `logos` by SHA-256."""
    pdf_path.parent.mkdir(parents=True, exist_ok=True)
    templated = [i for i in items if i.content is not None]
    precompiled = [i for i in items if i.content is None]
    rows: list[tuple[PrintItem, int, int]] = []  # item, first page, pages (padded)
    out = io.BytesIO()
    canvas = new_canvas(out, title)
    page = 1
    for item in templated:
        assert item.content is not None
        drawn = draw_letter(canvas, item.content, duplex=True, logos=logos)
        rows.append((item, page, drawn))
        page += drawn
    if not templated:
        canvas.showPage()  # reportlab needs a page; it is dropped again below
    canvas.save()
    data = out.getvalue()
    if precompiled or not templated:
        data, more = _append_precompiled(data, precompiled, page, keep_first=bool(templated))
        rows += more
    _replace(pdf_path, data)
    _replace(manifest_path, _manifest(rows))
    return Written(pdf_path, manifest_path, len(rows), sum(pages for _, _, pages in rows) // 2)


def _append_precompiled(
    data: bytes, items: Sequence[PrintItem], page: int, *, keep_first: bool
) -> tuple[bytes, list[tuple[PrintItem, int, int]]]:
    import pypdfium2 as pdfium

    batch = pdfium.PdfDocument(data)
    if not keep_first:
        batch.del_page(0)
    rows = []
    for item in items:
        assert item.pdf is not None
        source = pdfium.PdfDocument(item.pdf)
        count = len(source)
        batch.import_pages(source)
        if count % 2:
            batch.new_page(PAGE_WIDTH, PAGE_HEIGHT)
        padded = count + count % 2
        rows.append((item, page, padded))
        page += padded
        source.close()
    out = io.BytesIO()
    batch.save(out)
    batch.close()
    return out.getvalue(), rows


def _cell(value: object) -> str:
    """A manifest cell; text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _manifest(rows: Sequence[tuple[PrintItem, int, int]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for sequence, (item, first, pages) in enumerate(rows, start=1):
        reference, zip_code = _cell(item.reference), _cell(item.zip_code)
        row = (
            sequence,
            item.notification_id,
            reference,
            first,
            pages,
            pages // 2,
            item.postage,
            zip_code,
            item.country,
        )
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _replace(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".part")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
