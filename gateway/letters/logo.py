"""A service's letterhead logo: checked, kept by SHA-256, drawn in the letterhead area, never in a window.

`gateway service update ID --letter-logo PATH` takes a PNG or JPEG (at most 512 KB and 4,000 pixels a
side). It is kept in `letter_logos` by the SHA-256 of its bytes and the service points at it; a letter
accepted afterwards names that hash in its sealed content, so its PDF shows the same logo for ever,
even after the service changes logo. The logo is drawn in `LOGO_BOX`: right of the return-address
window, above the letterhead text, at most 3.5 x 0.6 in, scaled to fit and kept in proportion. Both
address windows lie left of 4 in, so a logo can never show through either.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Iterable, Mapping

from reportlab.lib.utils import ImageReader
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import LetterLogo, Service
from gateway.letters.layout import INCH, LETTERHEAD_LEFT, MARGIN, PAGE_WIDTH, Box

MAX_BYTES = 512 * 1024
MAX_PIXELS = 4000
FORMATS = frozenset({"PNG", "JPEG"})
LOGO_BOX = Box(LETTERHEAD_LEFT, MARGIN, PAGE_WIDTH - MARGIN - LETTERHEAD_LEFT, 0.6 * INCH)
LOGO_GAP = 0.1 * INCH  # between the logo and the letterhead text below it


def check_logo(data: bytes) -> str | None:
    """Why `data` cannot be a letterhead logo, or None when it can."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        return f"the logo is {len(data) // 1024} KB; at most {MAX_BYTES // 1024} KB"
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind, (width, height) = image.format, image.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return "the logo must be a PNG or JPEG image"
    if kind not in FORMATS:
        return f"the logo must be a PNG or JPEG image, not {kind}"
    if not (0 < width <= MAX_PIXELS and 0 < height <= MAX_PIXELS):
        return f"the logo must be at most {MAX_PIXELS} pixels wide and high"
    return None


async def store_logo(session: AsyncSession, service: Service, data: bytes) -> str:
    """Keep the (checked) logo and make it the service's; its SHA-256."""
    sha = hashlib.sha256(data).hexdigest()
    if await session.get(LetterLogo, sha) is None:
        session.add(LetterLogo(sha256=sha, service_id=service.id, data=data))
    service.letter_logo_sha256 = sha
    return sha


async def load_logos(session: AsyncSession, shas: Iterable[str | None]) -> dict[str, bytes]:
    wanted = {sha for sha in shas if sha}
    if not wanted:
        return {}
    rows = await session.execute(select(LetterLogo.sha256, LetterLogo.data).where(LetterLogo.sha256.in_(wanted)))
    return {sha: data for sha, data in rows.all()}


@functools.lru_cache(maxsize=16)
def _reader(sha: str, data: bytes) -> ImageReader:
    return ImageReader(io.BytesIO(data))  # one per logo: reportlab embeds it once per PDF


def logo_reader(sha: str | None, logos: Mapping[str, bytes] | None) -> ImageReader | None:
    if sha is None or not logos or sha not in logos:
        return None
    return _reader(sha, logos[sha])


def logo_size(reader: ImageReader) -> tuple[float, float]:
    """The logo's width and height on the page: as large as fits `LOGO_BOX`, in proportion."""
    width, height = reader.getSize()
    scale = min(LOGO_BOX.width / width, LOGO_BOX.height / height)
    return width * scale, height * scale
