"""The official Notify Python client's letter calls, unmodified, against a real gateway server."""

from __future__ import annotations

import asyncio

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from gateway import keys
from gateway.app import create_app
from gateway.jobs.queue import LocalQueue
from tests.factories import ServiceUnderTest
from tests.letters.helpers import ADDRESS, FIELDS, LETTER_EN


async def test_send_letter_and_get_its_pdf(aiohttp_server, settings, service: ServiceUnderTest) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    server = await aiohttp_server(app)
    base = str(server.make_url("")).rstrip("/")
    notify = NotificationsAPIClient(service.live_key, base_url=base)
    sent = await asyncio.to_thread(notify.send_letter_notification, LETTER_EN, {**FIELDS, **ADDRESS}, "vsu-letter-1")
    assert sent["reference"] == "vsu-letter-1"
    assert sent["content"]["subject"] == "Information about a change in custody"
    queue = app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()
    got = await asyncio.to_thread(notify.get_notification_by_id, sent["id"])
    assert got["type"] == "letter" and got["status"] == "accepted" and got["line_1"] == "Alex Example"
    pdf = await asyncio.to_thread(notify.get_pdf_for_letter, sent["id"])
    assert pdf.read().startswith(b"%PDF")
    letters = await asyncio.to_thread(notify.get_all_notifications, None, "letter")
    assert [n["id"] for n in letters["notifications"]] == [sent["id"]]

    with pytest.raises(HTTPError) as refused:
        await asyncio.to_thread(
            notify.send_letter_notification, LETTER_EN, {**FIELDS, "address_line_1": "A", "address_line_2": "B"}
        )
    assert refused.value.status_code == 400
    assert refused.value.message == [{"error": "ValidationError", "message": "Address must be at least 3 lines"}]
