"""Precompiled letters: the PDF checks (a letter with ink in the window, the margins, the wrong size or too
many pages is `validation-failed` with the reason), and the official client's send_precompiled_letter_notification."""

from __future__ import annotations

import asyncio
import io

from notifications_python_client.notifications import NotificationsAPIClient
from reportlab.pdfgen.canvas import Canvas

from gateway import keys
from gateway.app import create_app
from gateway.letters.layout import PAGE_HEIGHT, PAGE_WIDTH
from gateway.letters.pdf import LetterContent, render_pdf
from gateway.letters.precompiled import check_pdf
from tests.factories import ServiceUnderTest

CONTENT = LetterContent(
    "en", "Victim Services", ("1 Main St", "Springfield, IL 62701"), "December 5, 2026",
    ("Alex Example", "12 Elm Street", "Springfield, IL 62704"), "About your case", "Body.\n\nMore.",
)  # fmt: skip


def made(draw: object = None, size: tuple[float, float] = (PAGE_WIDTH, PAGE_HEIGHT), pages: int = 1) -> bytes:
    """A PDF with the address in the window, plus whatever `draw(canvas)` adds to page 1."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=size)
    for number in range(pages):
        if number == 0:
            for i, line in enumerate(CONTENT.address):
                canvas.drawString(40, size[1] - 160 - 12 * i, line)
            if callable(draw):
                draw(canvas)
        canvas.drawString(72, size[1] - 300, f"Page {number + 1}")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def reason(pdf: bytes) -> str:
    try:
        check_pdf(pdf)
    except Exception as exc:
        return str(exc)
    return "ok"


def test_checks() -> None:
    assert check_pdf(render_pdf(CONTENT)[0]).address.zip_code == "62704"  # our own letters pass
    assert check_pdf(made()).pages == 1
    assert reason(made(lambda c: c.rect(60, PAGE_HEIGHT - 200, 80, 20, fill=1))) == (
        "page 1 has something other than the address in the address window"
    )
    assert reason(made(lambda c: c.drawString(10, 400, "x"))) == "page 1 has content in the 0.5 in margins"
    assert reason(made(size=(595.3, 841.9))) == "page 1 is 8.27 x 11.69 in; letters are US Letter (8.5 x 11 in)"
    assert reason(made(pages=11)) == "a letter has 1 to 10 pages; this one has 11"
    assert reason(b"not a pdf") == "the file is not a PDF that can be read"
    no_address = io.BytesIO()
    canvas = Canvas(no_address, pagesize=(PAGE_WIDTH, PAGE_HEIGHT))
    canvas.drawString(72, 300, "hello")
    canvas.save()
    assert reason(no_address.getvalue()) == "the address in the window cannot be used: Address must be at least 3 lines"


async def test_official_client_sends_precompiled_letters(aiohttp_server, settings, service: ServiceUnderTest) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    server = await aiohttp_server(app)
    notify = NotificationsAPIClient(service.live_key, base_url=str(server.make_url("")).rstrip("/"))
    sent_pdf = made()
    good = await asyncio.to_thread(notify.send_precompiled_letter_notification, "pre-1", io.BytesIO(sent_pdf), "second")
    assert set(good) == {"id", "reference", "postage"} and good["postage"] == "marketing"
    inked = made(lambda c: c.rect(60, PAGE_HEIGHT - 200, 80, 20, fill=1))
    bad = await asyncio.to_thread(notify.send_precompiled_letter_notification, "pre-2", io.BytesIO(inked))
    await app[keys.QUEUE].join()  # type: ignore[attr-defined]
    got = await asyncio.to_thread(notify.get_notification_by_id, good["id"])
    assert got["status"] == "accepted" and got["line_1"] == "Alex Example" and got["postcode"] == "62704"
    pdf = await asyncio.to_thread(notify.get_pdf_for_letter, good["id"])
    assert pdf.read() == sent_pdf
    refused = await asyncio.to_thread(notify.get_notification_by_id, bad["id"])
    assert refused["status"] == "validation-failed" and refused["line_1"] is None
