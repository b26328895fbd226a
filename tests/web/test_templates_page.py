"""The templates pages: the list, a template, and a preview through the real renderer.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from markupsafe import escape

from gateway.templating import sms_length
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
REMINDER = "5a5efae2-030e-4567-be82-818832040c57"
FREE_TEXT = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"
VALUES = {
    "p.first_name": "<b>Sam</b>",
    "p.appointment_type": "drug_test",
    "p.appointment_date": "Tuesday 3 March",
    "p.appointment_time": "10:30",
    "p.location": "12 Main St",
}


async def test_the_list_and_a_template(client: Client, service: ServiceUnderTest, staff_factory: StaffFactory) -> None:
    await sign_in(client, await staff_factory(service.id))
    listing = await (await client.get("/templates")).text()
    assert f'href="/templates/{REMINDER}"' in listing and "Agency templates" in listing
    detail = await (await client.get(f"/templates/{REMINDER}")).text()
    for name in ("first_name", "appointment_type", "appointment_date", "appointment_time", "location"):
        assert f'name="p.{name}"' in detail
    assert 'name="p.kinds"' not in detail  # set inside the template, not a placeholder
    assert 'src="/static/sms-length.js"' in detail and "data-sms-counter" in detail


async def test_preview_renders_what_would_be_sent(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    await sign_in(client, await staff_factory(service.id))
    token = await csrf_from(client, f"/templates/{REMINDER}")
    response = await client.post(f"/templates/{REMINDER}", data=VALUES | {"csrf_token": token})
    assert response.status == 200
    text = await response.text()
    body = (
        "Hi <b>Sam</b>, this is a reminder of your drug test: Tuesday 3 March, 10:30, at 12 Main St. "
        "If you can't make it, reply to this message or call your officer."
    )
    assert str(escape(body)) in text  # shown as text, never as markup
    length = sms_length(body)
    assert f"{length.characters} characters ({length.encoding}), {length.fragments} text message" in text


async def test_preview_reports_missing_values(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    await sign_in(client, await staff_factory(service.id))
    token = await csrf_from(client, f"/templates/{REMINDER}")
    values = VALUES | {"p.location": "  ", "csrf_token": token}
    response = await client.post(f"/templates/{REMINDER}", data=values)
    assert response.status == 400
    text = await response.text()
    assert "Missing personalisation: location" in text and 'data-testid="preview"' not in text
    assert 'value="Tuesday 3 March"' in text  # what was typed is kept


async def test_an_unknown_template_is_not_found(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    await sign_in(client, await staff_factory(service.id))
    assert (await client.get("/templates/00000000-0000-4000-8000-000000000000")).status == 404
    assert (await client.get(f"/templates/{FREE_TEXT}")).status == 200
