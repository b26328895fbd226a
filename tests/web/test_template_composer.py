"""The template composer in plain words over HTTP: labelled fields (never Jinja), prefilled values,
templates labelled and grouped by language (the person's first), and the live preview endpoint
with its length warnings."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import Case, Person
from gateway.templating import sms_length
from tests.factories import ServiceUnderTest
from tests.web.cases import set_service
from tests.web.chat import add_conversation, add_person
from tests.web.conftest import StaffFactory
from tests.web.staff import csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
REMINDER_EN = "5a5efae2-030e-4567-be82-818832040c57"
REMINDER_ES = "37e2967f-be01-4180-badb-8d0331b6fcbb"
CALL_EN = "fcd525e5-9984-4780-8369-e879b7abc356"
PHONE = "+12025550123"


async def _setup(
    make_client: Callable[..., Awaitable[Client]],
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    language: str = "en",
) -> tuple[Client, str]:
    officer = await staff_factory(service.id, name="Olive Officer")
    person_id = await add_person(
        sessions, vault, service.id, "Jordan Rivera", PHONE, case_ref="CR-7", officer_id=officer.id
    )
    async with sessions() as db:
        await db.execute(update(Person).where(Person.id == person_id).values(first_name="Jordan", language=language))
        case_id = await db.scalar(select(Case.id).where(Case.external_ref == "CR-7", Case.service_id == service.id))
        await db.commit()
    await set_service(sessions, service.id, contact_text="Questions? Call the office on (202) 555-0142, 9 to 5.")
    conversation = await add_conversation(
        sessions, vault, service.id, PHONE, "hi", person_id=person_id, assigned_staff_id=officer.id, case_id=case_id
    )
    client = await make_client()
    await sign_in(client, officer)
    return client, f"/conversations/{conversation.id}"


async def test_fields_are_labelled_prefilled_and_previewed_never_jinja(
    make_client: Callable[..., Awaitable[Client]],
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    client, path = await _setup(make_client, staff_factory, service, sessions, vault)
    page = await (await client.get(f"{path}?template={CALL_EN}")).text()
    assert "{{" not in page and "{%" not in page, "the composer never shows template source"
    assert '<label for="field-1">First name</label>' in page
    assert 'value="Jordan"' in page and 'value="Olive Officer"' in page and 'value="(202) 555-0142"' in page
    assert "Hi Jordan, this is Olive Officer. Please call me at (202) 555-0142" in page
    assert "1 text message" in page

    reminder = await (await client.get(f"{path}?template={REMINDER_EN}")).text()
    assert "What the appointment is" in reminder and "For example: office_visit" in reminder
    assert "[Date]" in reminder, "an empty field shows as its label in the preview"
    assert "appointment_date" not in reminder.split('name="p.appointment_date"', 1)[0].split("<main", 1)[-1]


async def test_the_persons_language_comes_first_and_each_template_says_its_language(
    make_client: Callable[..., Awaitable[Client]],
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    client, path = await _setup(make_client, staff_factory, service, sessions, vault, language="es")
    page = await (await client.get(path)).text()
    groups = re.findall(r'<optgroup label="([^"]+)">', page)
    assert groups[0] == "Spanish (their language)" and "English" in groups
    assert "Recordatorio de cita (Spanish)" in page and "Appointment reminder (English)" in page
    english = await (await client.get(f"{path}?template={REMINDER_EN}")).text()
    assert "Jordan Rivera’s language is Spanish" in english and f"?template={REMINDER_ES}" in english


async def test_preview_renders_as_typed_and_warns_over_the_limit(
    make_client: Callable[..., Awaitable[Client]],
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    client, path = await _setup(make_client, staff_factory, service, sessions, vault)
    token = await csrf_from(client, path)
    fields = {"p.first_name": "Jo", "p.officer_name": "Olive", "p.office_phone": "555"}
    response = await client.post(f"{path}/preview", data={"csrf_token": token, "template": CALL_EN, **fields})
    assert response.status == 200
    data = json.loads(await response.text())
    assert data["body"].startswith("Hi Jo, this is Olive. Please call me at 555") and data["complete"]
    assert data["fragments"] == 1 and data["warnings"] == []

    long = {**fields, "p.officer_name": "x" * 200}
    data = json.loads(
        await (await client.post(f"{path}/preview", data={"csrf_token": token, "template": CALL_EN, **long})).text()
    )
    assert data["fragments"] == sms_length(data["body"]).fragments == 2
    assert data["warnings"] == ["This will be sent as 2 text messages (and billed as 2)."]

    over = {**fields, "p.officer_name": "x" * 900}
    data = json.loads(
        await (await client.post(f"{path}/preview", data={"csrf_token": token, "template": CALL_EN, **over})).text()
    )
    assert data["characters"] > 918 and "at most 918 characters" in data["warnings"][0]

    free = json.loads(
        await (await client.post(f"{path}/preview", data={"csrf_token": token, "message": "é" * 71})).text()
    )
    assert free["encoding"] == "GSM-7" and free["fragments"] == 1
    refused = await client.post(f"{path}/preview", data={"template": CALL_EN, **fields})
    assert refused.status == 403, "the preview is a POST: it needs the CSRF token"
