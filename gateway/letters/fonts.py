"""The typefaces letters are set in, registered with reportlab once per process and embedded in every PDF.

DejaVu Sans (Debian's `fonts-dejavu-core`, already needed by the case export) covers Spanish and most
Latin, Greek and Cyrillic names; where it is missing, reportlab's own Bitstream Vera (DejaVu's parent,
shipped inside the package) is used, so a letter always renders. Both are TrueType: reportlab embeds the
subset a document uses, so the text stays extractable (screen readers, `pdftotext`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import reportlab
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from gateway.letters import layout

REGULAR, BOLD = "Letter", "Letter-Bold"
_SYSTEM = Path("/usr/share/fonts/truetype/dejavu")
_BUNDLED = Path(reportlab.__file__).parent / "fonts"


def _first(*paths: Path) -> Path:
    return next((p for p in paths if p.is_file()), paths[-1])


@functools.cache
def register() -> tuple[str, str]:
    """Register the two faces (idempotent); their reportlab names."""
    regular = _first(_SYSTEM / "DejaVuSans.ttf", _BUNDLED / "Vera.ttf")
    bold = _first(_SYSTEM / "DejaVuSans-Bold.ttf", _BUNDLED / "VeraBd.ttf")
    pdfmetrics.registerFont(TTFont(REGULAR, str(regular)))
    pdfmetrics.registerFont(TTFont(BOLD, str(bold)))
    return REGULAR, BOLD


def text_width(text: str, size: float, bold: bool = False) -> float:
    register()
    return float(pdfmetrics.stringWidth(text, BOLD if bold else REGULAR, size))


@functools.cache
def metrics() -> tuple[float, float]:
    """(ascent, descent) of the regular face in ems, descent positive: how far text reaches from its baseline."""
    register()
    face = pdfmetrics.getFont(REGULAR).face
    return face.ascent / 1000, -face.descent / 1000


def address_size(lines: int) -> tuple[float, float]:
    """`layout.address_size` for this face."""
    ascent, descent = metrics()
    return layout.address_size(lines, ascent + descent)
