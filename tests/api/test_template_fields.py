"""Template fields in plain words through the API: the official Notify client reads them unchanged.

`GET /v2/template/{id}`, `/version/{v}`, `/v2/templates` and the preview list each placeholder
with its label, hint, example and `required`, beside Notify's documented fields.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from notifications_python_client.notifications import NotificationsAPIClient

from gateway.app import create_app
from gateway.templating import scan_catalog
from tests.factories import ServiceUnderTest

REMINDER_EN = "5a5efae2-030e-4567-be82-818832040c57"
REMINDER_ES = "37e2967f-be01-4180-badb-8d0331b6fcbb"
NOTIFY_FIELDS = {"id", "name", "type", "created_at", "updated_at", "created_by", "version", "body", "subject"}


@pytest.fixture
async def notify(aiohttp_server, settings, service: ServiceUnderTest) -> NotificationsAPIClient:  # type: ignore[no-untyped-def]
    server = await aiohttp_server(create_app(settings))
    return NotificationsAPIClient(service.live_key, base_url=str(server.make_url("")).rstrip("/"))


async def test_the_official_client_sees_each_field_in_plain_words(notify: NotificationsAPIClient) -> None:
    call = asyncio.to_thread
    got = await call(notify.get_template, REMINDER_EN)
    assert set(got) >= NOTIFY_FIELDS, "Notify's documented fields are all still there"
    fields = got["personalisation"]
    assert list(fields) == ["first_name", "appointment_type", "appointment_date", "appointment_time", "location"]
    assert fields["first_name"] == {
        "required": True,
        "label": "First name",
        "hint": fields["first_name"]["hint"],
        "example": "Jordan",
    }
    assert fields["first_name"]["hint"]
    assert fields["appointment_type"]["hint"].startswith("office_visit, drug_test")

    version = await call(notify.get_template_version, REMINDER_EN, got["version"])
    assert version["personalisation"] == fields

    listing = (await call(notify.get_all_templates, "sms"))["templates"]
    by_id = {t["id"]: t for t in listing}
    assert by_id[REMINDER_EN]["personalisation"] == fields
    assert by_id[REMINDER_ES]["language"] == "es"
    assert by_id[REMINDER_ES]["personalisation"]["appointment_date"]["example"] == "martes 14 de enero"

    examples = {name: spec["example"] for name, spec in fields.items()}
    preview = await call(notify.post_template_preview, REMINDER_EN, examples)
    assert preview["body"].startswith("Hi Jordan, this is a reminder of your office visit: Tuesday 14 January")
    assert preview["personalisation"] == fields


def test_every_template_file_describes_every_placeholder() -> None:
    templates, errors = scan_catalog(Path(__file__).resolve().parents[2] / "templates")
    assert errors == []
    for template in templates:
        for spec in template.fields:
            assert spec.label and spec.hint and spec.example and spec.required, (template.path, spec.name)
    assert {t.language for t in templates} == {"en", "es"}
