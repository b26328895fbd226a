"""Checks on a precompiled letter's PDF, and the address read from its envelope window.

A precompiled letter is printed as it is, so it must suit the envelope and the mail house: it parses,
every page is US Letter, it has at most `MAX_PAGES` pages, nothing is printed in the 0.5 in margins the
mail house reserves, nothing but text is printed in the address window of page 1, and the text there
is an address that passes the same rules as a templated letter's (`address.parse_lines`). Ink is found
by drawing each page with pdfium at 36 dpi and looking for dark pixels; the window's text by pdfium's
text layer. Each failure is a `ContentRefused` with a reason a person can act on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pypdfium2 as pdfium

from gateway.errors import ContentRefused, ValidationFailed
from gateway.letters.address import PostalAddress, parse_lines
from gateway.letters.layout import INCH, MARGIN, PAGE_HEIGHT, PAGE_WIDTH, RECIPIENT_WINDOW, Box

MAX_PAGES = 10
SCALE = 0.5  # 36 dpi: a pixel is 2 points
INK = 160  # grey levels below this are ink
TOLERANCE = 1.0  # points either way for the page size
CODE = "validation-failed"


@dataclass(frozen=True)
class Checked:
    pages: int
    address: PostalAddress


def check_pdf(data: bytes) -> Checked:
    """The page count and the address of a printable letter; ContentRefused saying why it is not one."""
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        raise ContentRefused("the file is not a PDF that can be read", code=CODE) from None
    try:
        count = len(document)
        if count == 0 or count > MAX_PAGES:
            raise ContentRefused(f"a letter has 1 to {MAX_PAGES} pages; this one has {count}", code=CODE)
        for number in range(count):
            page = document[number]
            width, height = page.get_size()
            if abs(width - PAGE_WIDTH) > TOLERANCE or abs(height - PAGE_HEIGHT) > TOLERANCE:
                raise ContentRefused(
                    f"page {number + 1} is {width / INCH:.2f} x {height / INCH:.2f} in;"
                    " letters are US Letter (8.5 x 11 in)",
                    code=CODE,
                )
            ink = _ink(page)
            if any(_in_margin(x, y) for x, y in ink):
                raise ContentRefused(f"page {number + 1} has content in the 0.5 in margins", code=CODE)
            if number == 0:
                address = _address(page, ink)
        return Checked(count, address)
    finally:
        document.close()


def _ink(page: pdfium.PdfPage) -> list[tuple[float, float]]:
    """The top-left corner (points from the page's top-left) of every dark pixel."""
    bitmap = page.render(scale=SCALE, grayscale=True)
    width, height, stride, buffer = bitmap.width, bitmap.height, bitmap.stride, bitmap.buffer
    raw = bytes(buffer)
    dark = []
    for row in range(height):
        line = raw[row * stride : row * stride + width]
        if min(line) >= INK:
            continue
        dark += [(col / SCALE, row / SCALE) for col, value in enumerate(line) if value < INK]
    return dark


def _in_margin(x: float, y: float) -> bool:
    step = 1 / SCALE
    return (
        x < MARGIN - step
        or y < MARGIN - step
        or x + step > PAGE_WIDTH - MARGIN + step
        or y + step > PAGE_HEIGHT - MARGIN + step
    )


def _address(page: pdfium.PdfPage, ink: list[tuple[float, float]]) -> PostalAddress:
    window = RECIPIENT_WINDOW
    text = page.get_textpage()
    boxes: list[Box] = []
    for index in range(text.count_chars()):
        left, bottom, right, top = text.get_charbox(index)
        box = Box(left - 3, PAGE_HEIGHT - top - 3, right - left + 6, top - bottom + 6)
        if box.left < window.right and box.right > window.left and box.top < window.bottom and box.bottom > window.top:
            boxes.append(box)
    step = 1 / SCALE
    for x, y in ink:
        inside = window.left <= x and x + step <= window.right and window.top <= y and y + step <= window.bottom
        if inside and not any(b.left <= x <= b.right and b.top <= y <= b.bottom for b in boxes):
            raise ContentRefused("page 1 has something other than the address in the address window", code=CODE)
    found = text.get_text_bounded(window.left, PAGE_HEIGHT - window.bottom, window.right, PAGE_HEIGHT - window.top)
    try:
        return parse_lines(found.replace("\r", "\n").split("\n"))
    except ValidationFailed as exc:
        raise ContentRefused(f"the address in the window cannot be used: {exc.message}", code=CODE) from None
