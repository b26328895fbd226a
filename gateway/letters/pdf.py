"""The letter PDF, drawn with reportlab straight onto the page geometry of `layout`.

`LetterContent` is everything printed on a letter, fixed when the letter is accepted (`render.py`);
`draw_letter` draws one onto a canvas, which may already hold other letters: a print batch is one
canvas with every letter of the day, so the fonts are embedded once and each letter costs ~1 ms
(`bench/letters.py`). `render_pdf` makes the PDF of one letter. Each letter is padded with a blank
page to an even number of pages when `duplex` is set, so the next starts on a new sheet.

Why reportlab and not WeasyPrint or typst: measured on this machine, WeasyPrint ~70 ms a letter,
typst's binding ~5 ms (a reused compiler; ~22 ms fresh), reportlab ~6 ms for a letter as its own
PDF and ~1 ms a letter in a shared canvas; and positions are given in points, which is what a
window envelope asks for. Text is drawn as text in an embedded TrueType font, so it can be read
back (`pdftotext -bbox` in the tests) and by screen readers.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from gateway.letters import fonts
from gateway.letters.layout import (
    BODY_BOTTOM,
    BODY_TOP,
    BODY_WIDTH,
    FONT_SIZE,
    FOOTER_BASELINE,
    INSET,
    LEADING,
    LETTERHEAD_LEFT,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    RECIPIENT_WINDOW,
    RETURN_SIZE,
    RETURN_WINDOW,
)
from gateway.letters.logo import LOGO_BOX, LOGO_GAP, logo_reader, logo_size

PAGE_LABEL = {"en": "Page {n} of {total}", "es": "Página {n} de {total}"}
PARAGRAPH_GAP = 6.0


@dataclass(frozen=True)
class LetterContent:
    """What one letter says, all of it already rendered text."""

    language: str
    sender_name: str  # the service: letterhead and first return-address line
    sender_lines: tuple[str, ...]  # the service's letter contact block (return address, phone ...)
    date: str  # on the service's clock, in the letter's language
    address: tuple[str, ...]
    subject: str
    body: str
    logo: str | None = None  # SHA-256 of the service's letterhead logo when accepted (`logo.py`)


def _body_lines(content: LetterContent) -> list[tuple[str, bool, float]]:
    """(text, bold, space before) for every line of the body, wrapped to the body width."""
    out: list[tuple[str, bool, float]] = []
    for line in simpleSplit(content.subject, fonts.BOLD, FONT_SIZE, BODY_WIDTH):
        out.append((line, True, 0.0))
    gap = LEADING
    for paragraph in content.body.split("\n\n"):
        for source in paragraph.split("\n"):
            for line in simpleSplit(source, fonts.REGULAR, FONT_SIZE, BODY_WIDTH) or [""]:
                out.append((line, False, gap))
                gap = 0.0
        gap = PARAGRAPH_GAP
    return out


def _paginate(lines: list[tuple[str, bool, float]]) -> list[list[tuple[float, str, bool]]]:
    """Lines placed on pages: (baseline from the page top, text, bold)."""
    pages: list[list[tuple[float, str, bool]]] = [[]]
    ascent, _ = fonts.metrics()
    y = BODY_TOP + ascent * FONT_SIZE
    for text, bold, before in lines:
        y += before if pages[-1] else 0.0
        if y > BODY_BOTTOM:
            pages.append([])
            y = MARGIN + ascent * FONT_SIZE
        pages[-1].append((y, text, bold))
        y += LEADING
    return pages


def page_count(content: LetterContent) -> int:
    fonts.register()
    return len(_paginate(_body_lines(content)))


def _block(canvas: Canvas, left: float, top: float, lines: list[tuple[str, bool]], size: float, leading: float) -> None:
    ascent, _ = fonts.metrics()
    y = top + ascent * size
    for text, bold in lines:
        canvas.setFont(fonts.BOLD if bold else fonts.REGULAR, size)
        canvas.drawString(left, PAGE_HEIGHT - y, text)
        y += leading


def draw_letter(
    canvas: Canvas, content: LetterContent, *, duplex: bool = False, logos: Mapping[str, bytes] | None = None
) -> int:
    """Draw `content` as the next pages of `canvas`; the number of pages drawn (blank padding included).

    `logos`: letterhead logos by SHA-256 (`logo.load_logos`), for a content that names one."""
    fonts.register()
    pages = _paginate(_body_lines(content))
    label = PAGE_LABEL.get(content.language, PAGE_LABEL["en"])
    # Return address: the service's name and as many contact lines as the upper window holds.
    room = int((RETURN_WINDOW.height - 2 * INSET - RETURN_SIZE) // (RETURN_SIZE * 1.2)) + 1
    sender = [(content.sender_name, True)] + [(line, False) for line in content.sender_lines]
    for number, placed in enumerate(pages, start=1):
        if number == 1:
            _block(canvas, RETURN_WINDOW.left + INSET, RETURN_WINDOW.top + INSET, sender[:room], RETURN_SIZE, 9.6)
            size, leading = fonts.address_size(len(content.address))
            address = [(line, False) for line in content.address]
            _block(canvas, RECIPIENT_WINDOW.left + INSET, RECIPIENT_WINDOW.top + INSET, address, size, leading)
            head = [(content.sender_name, True), *((line, False) for line in content.sender_lines), ("", False)]
            _block(canvas, LETTERHEAD_LEFT, _logo(canvas, content, logos), [*head, (content.date, False)], 9.0, 11.0)
        for y, text, bold in placed:
            canvas.setFont(fonts.BOLD if bold else fonts.REGULAR, FONT_SIZE)
            canvas.drawString(MARGIN, PAGE_HEIGHT - y, text)
        canvas.setFont(fonts.REGULAR, 8.0)
        footer = label.format(n=number, total=len(pages))
        canvas.drawCentredString(PAGE_WIDTH / 2, PAGE_HEIGHT - FOOTER_BASELINE, footer)
        canvas.showPage()
    drawn = len(pages)
    if duplex and drawn % 2:
        canvas.showPage()  # a blank back, so the next letter starts on its own sheet
        drawn += 1
    return drawn


def _logo(canvas: Canvas, content: LetterContent, logos: Mapping[str, bytes] | None) -> float:
    """Draw the letterhead logo, if any, top left of `LOGO_BOX`; where the letterhead text starts."""
    reader = logo_reader(content.logo, logos)
    if reader is None:
        return MARGIN
    width, height = logo_size(reader)
    canvas.drawImage(reader, LOGO_BOX.left, PAGE_HEIGHT - LOGO_BOX.top - height, width, height, mask="auto")
    return LOGO_BOX.top + height + LOGO_GAP


def new_canvas(out: io.BytesIO, title: str) -> Canvas:
    canvas = Canvas(out, pagesize=(PAGE_WIDTH, PAGE_HEIGHT), pageCompression=1, invariant=1)
    canvas.setTitle(title)
    canvas.setAuthor("gateway")
    return canvas


def render_pdf(
    content: LetterContent, title: str = "Letter", logos: Mapping[str, bytes] | None = None
) -> tuple[bytes, int]:
    """One letter as its own PDF, and its page count."""
    out = io.BytesIO()
    canvas = new_canvas(out, title)
    pages = draw_letter(canvas, content, logos=logos)
    canvas.save()
    return out.getvalue(), pages
