"""The letterhead logo: checked (PNG or JPEG, size), set by `gateway service update --letter-logo`,
drawn inside the letterhead area and never in either address window, and kept by each letter: a logo
changed later does not change the PDF of a letter accepted before."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image
from sqlalchemy import select

from gateway.admin import update_service
from gateway.db import LetterLogo
from gateway.db.base import utcnow
from gateway.letters import batch as batches
from gateway.letters.layout import BODY_TOP, PAGE_HEIGHT, RECIPIENT_WINDOW, RETURN_WINDOW, Box
from gateway.letters.logo import LOGO_BOX, check_logo
from tests.api.test_auth import bearer
from tests.letters.helpers import settle, words
from tests.letters.test_batch import send
from tests.test_cli import gateway, home, service_create  # noqa: F401  (home is a fixture)


def image(width: int, height: int, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (160, 20, 40)).save(out, kind)
    return out.getvalue()


def image_boxes(pdf: bytes, page: int = 0) -> list[tuple[float, float, float, float]]:
    """Each image on the page as (left, top, right, bottom) in points from the top-left corner."""
    document = pdfium.PdfDocument(pdf)
    boxes = []
    for found in document[page].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
        left, bottom, right, top = found.get_bounds()
        boxes.append((round(left, 2), round(PAGE_HEIGHT - top, 2), round(right, 2), round(PAGE_HEIGHT - bottom, 2)))
    document.close()
    return boxes


def overlaps(box: tuple[float, float, float, float], window: Box) -> bool:
    left, top, right, bottom = box
    return left < window.right and right > window.left and top < window.bottom and bottom > window.top


def test_check_logo() -> None:
    assert check_logo(image(300, 80)) is None and check_logo(image(300, 80, "JPEG")) is None
    assert check_logo(image(30, 30, "GIF")) == "the logo must be a PNG or JPEG image, not GIF"
    assert check_logo(b"not an image") == "the logo must be a PNG or JPEG image"
    assert check_logo(image(5000, 10)) == "the logo must be at most 4000 pixels wide and high"
    assert check_logo(b"\x89PNG" + bytes(600 * 1024)) == "the logo is 600 KB; at most 512 KB"


async def test_logo_in_the_letterhead_never_in_a_window(  # type: ignore[no-untyped-def]
    client, service, sessions, vault, letters_ctx, tmp_path: Path
) -> None:
    async with sessions() as db:
        await update_service(db, vault, service.id, letter_logo=image(400, 100))
        await db.commit()
    before = await send(client, service)
    await settle(client)
    async with sessions() as db:
        await update_service(db, vault, service.id, letter_logo=image(100, 100))  # a new logo, square
        await db.commit()
        assert len((await db.scalars(select(LetterLogo.sha256))).all()) >= 2
    after = await send(client, service)
    await settle(client)

    for nid, ratio in ((before, 4.0), (after, 1.0)):
        answer = await client.get(f"/v2/notifications/{nid}/pdf", headers=bearer(service.live_key, service.id))
        pdf = await answer.read()
        [box] = image_boxes(pdf)
        left, top, right, bottom = box
        area = Box(*(round(v, 2) for v in (LOGO_BOX.left, LOGO_BOX.top, LOGO_BOX.width, LOGO_BOX.height)))
        assert area.contains(left, top, right, bottom), box
        assert not overlaps(box, RECIPIENT_WINDOW) and not overlaps(box, RETURN_WINDOW)
        assert round((right - left) / (bottom - top), 1) == ratio  # each letter keeps the logo it was accepted with
        [page, *_] = words(pdf, tmp_path)
        head = [w for w in page if w[0] >= LOGO_BOX.left and w[1] < RECIPIENT_WINDOW.top]
        assert head and all(w[1] >= bottom for w in head)  # the letterhead text starts below the logo
        address = [w for w in page if w[4] in ("Alex", "Elm", "Springfield,") and w[1] < BODY_TOP]
        assert len(address) == 3 and all(RECIPIENT_WINDOW.contains(*w[:4]) for w in address)

    [report] = await batches.run_batch(letters_ctx, service.id, now=utcnow())
    with open(report.pdf_path, "rb") as handle:  # noqa: ASYNC230  (a test reading its own file)
        batch_pdf = handle.read()
    assert len(image_boxes(batch_pdf, 0)) == 1 and len(image_boxes(batch_pdf, 2)) == 1
    assert image_boxes(batch_pdf, 1) == []  # the blank back has no logo


def test_cli_letter_logo(home: Path, tmp_path: Path) -> None:  # noqa: F811
    sid = service_create(home, f"Logo office {uuid.uuid4().hex[:6]}")
    gif = tmp_path / "logo.gif"
    gif.write_bytes(image(20, 20, "GIF"))
    refused = gateway(home, "service", "update", sid, "--letter-logo", str(gif))
    assert refused.returncode == 2 and "letter logo: the logo must be a PNG or JPEG image, not GIF" in refused.stderr
    missing = gateway(home, "service", "update", sid, "--letter-logo", str(tmp_path / "none.png"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    png = tmp_path / "logo.png"
    png.write_bytes(image(300, 90))
    done = gateway(
        home,
        "service",
        "update",
        sid,
        "--letter-logo",
        str(png),
        "--letter-contact-block",
        "1 Main St\\nSpringfield, IL 62704",
    )
    assert done.returncode == 0, done.stderr
    assert "letter_contact_block" in done.stdout and "letter_logo" in done.stdout
