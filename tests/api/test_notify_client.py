"""The official GOV.UK Notify Python client, unmodified, against a real gateway server."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from gateway.app import create_app
from tests.factories import ServiceUnderTest

SMS_TEMPLATE = "free_text"


async def _template_ids(client: NotificationsAPIClient) -> dict[tuple[str, str, str], str]:
    listing = await asyncio.to_thread(client.get_all_templates)
    out = {}
    for t in listing["templates"]:
        out[(t["type"], t["language"], t["name"])] = t["id"]
    return out


@pytest.fixture
async def notify(aiohttp_server, settings, service: ServiceUnderTest) -> NotificationsAPIClient:  # type: ignore[no-untyped-def]
    server = await aiohttp_server(create_app(settings))
    return NotificationsAPIClient(service.live_key, base_url=str(server.make_url("")).rstrip("/"))


async def test_official_client_end_to_end(notify: NotificationsAPIClient) -> None:
    call = asyncio.to_thread
    templates = (await call(notify.get_all_templates))["templates"]
    assert templates, "agency templates are available to every service"
    sms = next(t for t in templates if t["type"] == "sms" and "{{ message }}" in t["body"])
    email = next(t for t in templates if t["type"] == "email" and "{{ message }}" in t["body"])
    only_sms = (await call(notify.get_all_templates, "sms"))["templates"]
    assert only_sms and all(t["type"] == "sms" for t in only_sms)

    got = await call(notify.get_template, sms["id"])
    assert got["id"] == sms["id"] and got["version"] >= 1
    version = await call(notify.get_template_version, sms["id"], got["version"])
    assert version["body"] == got["body"]
    preview = await call(notify.post_template_preview, sms["id"], {"message": "See you at 10"})
    assert preview["body"] == "See you at 10" and preview["type"] == "sms"

    sent = await call(
        notify.send_sms_notification,
        "+12025550143",
        sms["id"],
        {"message": "Office closed Friday"},
        "ref-sms-1",
    )
    assert sent["content"]["body"] == "Office closed Friday"
    assert sent["reference"] == "ref-sms-1"
    assert sent["template"]["id"] == sms["id"]
    mail = await call(
        notify.send_email_notification,
        "Client@Example.org",
        email["id"],
        {"subject": "Your appointment", "message": "Room 4, 10am"},
        "ref-mail-1",
    )
    assert mail["content"]["subject"] == "Your appointment"

    one = await call(notify.get_notification_by_id, sent["id"])
    assert one["phone_number"] == "+12025550143"
    assert one["type"] == "sms" and one["status"] in {"created", "sending", "delivered"}
    assert one["body"] == "Office closed Friday"

    listed = await call(notify.get_all_notifications)
    assert {n["id"] for n in listed["notifications"]} == {sent["id"], mail["id"]}
    by_type = await call(notify.get_all_notifications, None, "email")
    assert [n["id"] for n in by_type["notifications"]] == [mail["id"]]
    by_ref = await call(notify.get_all_notifications, None, None, "ref-sms-1")
    assert [n["id"] for n in by_ref["notifications"]] == [sent["id"]]
    by_status = await call(notify.get_all_notifications, "delivered")
    assert all(n["status"] == "delivered" for n in by_status["notifications"])

    with pytest.raises(HTTPError) as missing:
        await call(notify.get_notification_by_id, str(uuid.uuid4()))
    assert missing.value.status_code == 404


async def test_official_client_pages_with_older_than(notify: NotificationsAPIClient) -> None:
    call = asyncio.to_thread
    sms = next(t for t in (await call(notify.get_all_templates, "sms"))["templates"] if "{{ message }}" in t["body"])
    sent = []
    for i in range(255):  # one more full page than Notify's 250
        sent.append((await call(notify.send_sms_notification, "+12025550143", sms["id"], {"message": f"m{i}"}))["id"])
    first = await call(notify.get_all_notifications)
    assert len(first["notifications"]) == 250
    assert "next" in first["links"]
    last = await call(notify.get_all_notifications, None, None, None, first["notifications"][-1]["id"])
    assert len(last["notifications"]) == 5
    every = [n["id"] for n in await call(lambda: list(notify.get_all_notifications_iterator()))]
    assert len(every) == 255 and set(every) == set(sent)
    assert every == list(reversed(sent)), "newest first, no gaps, no repeats"
