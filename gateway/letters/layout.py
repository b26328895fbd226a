"""The page geometry every letter follows: US Letter, tri-folded into a #10 double-window envelope.

All figures are in points (1/72 in) measured from the top-left corner of the page, as the mail house
publishes them; `pdf.py` turns them into reportlab's bottom-left coordinates.

| area              | left   | top     | at most            |
| return address    | 0.5 in | 0.5 in  | 3.5 x 0.792 in     |
| recipient block   | 0.5 in | 2.042 in| 3.5 x 0.875 in     |
| body (page 1)     | 0.5 in | 3.375 in| to the bottom margin |
| margins           | 0.5 in on every side (later pages: body from the top margin) |

Text is set a little inside each window (`INSET`), so a sheet that shifts in the envelope still shows
all of it. The address block's type size shrinks with its number of lines so seven lines still fit.
"""

from __future__ import annotations

from dataclasses import dataclass

INCH = 72.0
PAGE_WIDTH, PAGE_HEIGHT = 8.5 * INCH, 11 * INCH
MARGIN = 0.5 * INCH
INSET = 0.04 * INCH


@dataclass(frozen=True)
class Box:
    """A rectangle from the page's top-left corner, in points."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def contains(self, x0: float, y0: float, x1: float, y1: float) -> bool:
        return self.left <= x0 and x1 <= self.right and self.top <= y0 and y1 <= self.bottom


RETURN_WINDOW = Box(0.5 * INCH, 0.5 * INCH, 3.5 * INCH, 0.792 * INCH)
RECIPIENT_WINDOW = Box(0.5 * INCH, 2.042 * INCH, 3.5 * INCH, 0.875 * INCH)
BODY_TOP = 3.375 * INCH
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN
FOOTER_BASELINE = PAGE_HEIGHT - MARGIN - 0.1 * INCH  # page numbers: just inside the bottom margin, never in it
BODY_BOTTOM = PAGE_HEIGHT - MARGIN - 0.4 * INCH
LETTERHEAD_LEFT = 4.5 * INCH  # the service's name and contact block, right of the return window

FONT_SIZE = 11.0
LEADING = 14.5
ADDRESS_MAX_SIZE = 10.0
RETURN_SIZE = 8.0


def address_size(lines: int, extent: float = 1.2) -> tuple[float, float]:
    """(type size, leading) for an address block of `lines` lines inside the recipient window.

    `extent` is the face's ascent + descent in ems: the block is (lines - 1) leadings plus one extent.
    """
    usable = RECIPIENT_WINDOW.height - 2 * INSET
    size = min(ADDRESS_MAX_SIZE, usable / (1.2 * (max(lines, 1) - 1) + extent))
    return size, size * 1.2


def address_width() -> float:
    """The widest an address line may be, in points."""
    return RECIPIENT_WINDOW.width - 2 * INSET
