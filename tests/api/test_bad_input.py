"""Bad input to the v2 API: every case answers in Notify's error shape, and nothing is stored.

Each send case counts the service's notifications before and after, so a check that runs
after the commit (or not at all) fails here even when the status code looks right.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import Notification, Template
from gateway.domain import NotificationStatus
from tests.api.test_auth import bearer
from tests.factories import ServiceUnderTest, make_service

SMS = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"  # free_text: {{ message }}
SMS_REMINDER = "5a5efae2-030e-4567-be82-818832040c57"
EMAIL = "a0d573e8-4e5c-43ae-a9ab-8a657559e03a"  # free_text: {{ subject }} / {{ message }}
TO = "+12025550143"
OK_SMS: dict[str, Any] = {"phone_number": TO, "template_id": SMS, "personalisation": {"message": "Room 4"}}
OK_EMAIL: dict[str, Any] = {
    "email_address": "client@example.org",
    "template_id": EMAIL,
    "personalisation": {"subject": "Visit", "message": "Room 4"},
}
REQUIRED_PERSONALISATION = "must be text, a number, true or false, or a list of text and numbers"


def sms(**changes: Any) -> dict[str, Any]:
    """The good SMS request with some fields changed (None removes one)."""
    return {k: v for k, v in {**OK_SMS, **changes}.items() if v is not None}


def email(**changes: Any) -> dict[str, Any]:
    return {k: v for k, v in {**OK_EMAIL, **changes}.items() if v is not None}


def v(message: str) -> dict[str, str]:
    return {"error": "ValidationError", "message": message}


def bad(message: str) -> dict[str, str]:
    return {"error": "BadRequestError", "message": message}


async def stored(sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(Notification).where(Notification.service_id == service_id)
        return int(await session.scalar(query) or 0)


async def post(client: TestClient, s: ServiceUnderTest, path: str, body: object, **headers: str) -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post(
        path, data=io.BytesIO(data), headers={**bearer(s.live_key, s.id), **headers, "Content-Type": "application/json"}
    )


async def assert_errors(resp: Any, status: int, errors: list[dict[str, str]]) -> None:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    assert await resp.json() == {"status_code": status, "errors": errors}


SMS_PATH, EMAIL_PATH = "/v2/notifications/sms", "/v2/notifications/email"
NOT_AN_EMAIL = [v("email_address Not a valid email address")]
CASES: list[tuple[str, str, object, list[dict[str, str]]]] = [
    ("malformed-json", SMS_PATH, b'{"phone_number": ', [bad("Invalid JSON supplied in POST data")]),
    ("not-utf8", SMS_PATH, b'{"phone_number": "\xff"}', [bad("Invalid JSON supplied in POST data")]),
    ("empty-body", SMS_PATH, b"", [v("request body is not of type object")]),
    ("json-array", SMS_PATH, [OK_SMS], [v("request body is not of type object")]),
    ("template-id-number", SMS_PATH, sms(template_id=123), [v("template_id is not a valid UUID")]),
    ("template-id-not-uuid", SMS_PATH, sms(template_id="reminder"), [v("template_id is not a valid UUID")]),
    ("personalisation-string", SMS_PATH, sms(personalisation="Room 4"),
     [v("personalisation 'Room 4' is not of type object")]),
    ("personalisation-nested", SMS_PATH, sms(personalisation={"message": {"a": 1}}),
     [v(f"personalisation message {REQUIRED_PERSONALISATION}")]),
    ("phone-number-number", SMS_PATH, sms(phone_number=12025550143),
     [v("phone_number 12025550143 is not of type string")]),
    ("reference-number", SMS_PATH, sms(reference=5), [v("reference 5 is not of type string")]),
    ("reference-nul", SMS_PATH, sms(reference="case\u00007"), [v("reference must not contain NUL characters")]),
    ("missing-everything", SMS_PATH, {}, [v("phone_number is a required property"),
                                          v("template_id is a required property")]),
    ("missing-template", SMS_PATH, sms(template_id=None), [v("template_id is a required property")]),
    ("unknown-field", SMS_PATH, sms(colour="red"),
     [v("Additional properties are not allowed (colour was unexpected)")]),
    ("email-field-on-sms", SMS_PATH, sms(email_address="a@example.org"),
     [v("Additional properties are not allowed (email_address was unexpected)")]),
    ("phone-letters", SMS_PATH, sms(phone_number="+1 202 CALL NOW"),
     [v("phone_number Must not contain letters or symbols")]),
    ("phone-too-short", SMS_PATH, sms(phone_number="12345"), [v("phone_number Not enough digits")]),
    ("phone-too-long", SMS_PATH, sms(phone_number="+1202555014312345"), [v("phone_number Too many digits")]),
    ("phone-not-valid", SMS_PATH, sms(phone_number="+1 555 555 5555"), [v("phone_number Not a valid phone number")]),
    ("phone-bad-country", SMS_PATH, sms(phone_number="+999 123456"), [v("phone_number Not a valid country prefix")]),
    ("phone-premium", SMS_PATH, sms(phone_number="+1 900 555 0100"),
     [v("phone_number Not a number that can receive text messages")]),
    ("unknown-template", SMS_PATH, sms(template_id=str(uuid.uuid4())), [bad("Template not found")]),
    ("email-template-for-sms", SMS_PATH, sms(template_id=EMAIL),
     [bad("email template is not suitable for sms notification")]),
    ("missing-personalisation", SMS_PATH, sms(template_id=SMS_REMINDER, personalisation={"first_name": "Sam"}),
     [bad("Missing personalisation: appointment_date, appointment_time, appointment_type, location")]),
    ("no-personalisation", SMS_PATH, sms(personalisation=None), [bad("Missing personalisation: message")]),
    ("blank-personalisation", SMS_PATH, sms(personalisation={"message": "  "}),
     [bad("Missing personalisation: message")]),
    ("sms-919-characters", SMS_PATH, sms(personalisation={"message": "a" * 919}),
     [bad("Text messages cannot be longer than 918 characters. Your message is 919 characters long.")]),
    ("sms-sender-id", SMS_PATH, sms(sms_sender_id="2f7c2a3c-6a49-4d3c-9b4b-0d7a5a0f1b11"),
     [bad("sms_sender_id 2f7c2a3c-6a49-4d3c-9b4b-0d7a5a0f1b11 does not exist in database for service id {sid}")]),
    ("email-malformed-json", EMAIL_PATH, b"{'single': 'quotes'}", [bad("Invalid JSON supplied in POST data")]),
    ("email-missing-address", EMAIL_PATH, email(email_address=None), [v("email_address is a required property")]),
    ("email-address-number", EMAIL_PATH, email(email_address=7), [v("email_address 7 is not of type string")]),
    ("email-unknown-field", EMAIL_PATH, email(phone_number=TO),
     [v("Additional properties are not allowed (phone_number was unexpected)")]),
    ("email-invalid", EMAIL_PATH, email(email_address="client.example.org"), NOT_AN_EMAIL),
    ("email-no-tld", EMAIL_PATH, email(email_address="client@localhost"), NOT_AN_EMAIL),
    ("email-double-dot", EMAIL_PATH, email(email_address="a..b@example.org"), NOT_AN_EMAIL),
    ("email-display-name", EMAIL_PATH, email(email_address="Sam <sam@example.org>"), NOT_AN_EMAIL),
    ("email-unknown-template", EMAIL_PATH, email(template_id=str(uuid.uuid4())), [bad("Template not found")]),
    ("sms-template-for-email", EMAIL_PATH, email(template_id=SMS),
     [bad("sms template is not suitable for email notification")]),
    ("email-missing-personalisation", EMAIL_PATH, email(personalisation={"message": "hi"}),
     [bad("Missing personalisation: subject")]),
    ("email-reply-to-id", EMAIL_PATH, email(email_reply_to_id="2f7c2a3c-6a49-4d3c-9b4b-0d7a5a0f1b11"),
     [bad("email_reply_to_id 2f7c2a3c-6a49-4d3c-9b4b-0d7a5a0f1b11 does not exist in database for service id {sid}")]),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "errors"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_send_is_refused_and_stores_nothing(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    body: object,
    errors: list[dict[str, str]],
) -> None:
    assert await stored(sessions, service.id) == 0
    expected = [{**e, "message": e["message"].format(sid=service.id)} for e in errors]
    await assert_errors(await post(client, service, path, body), 400, expected)
    assert await stored(sessions, service.id) == 0


@pytest.mark.parametrize("path", [SMS_PATH, EMAIL_PATH])
async def test_good_send_is_stored(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], path: str
) -> None:
    """The control for the cases above: the same request, made valid, is accepted and stored."""
    resp = await post(client, service, path, OK_SMS if path == SMS_PATH else OK_EMAIL)
    assert resp.status == 201, await resp.text()
    assert await stored(sessions, service.id) == 1


@pytest.mark.parametrize("path", [SMS_PATH, EMAIL_PATH])
async def test_body_over_the_limit_is_413(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], path: str
) -> None:
    body = (OK_SMS if path == SMS_PATH else OK_EMAIL) | {"personalisation": {"message": "a" * (1024 * 1024)}}
    limit = client.app[keys.SETTINGS].max_body_bytes
    await assert_errors(
        await post(client, service, path, body),
        413,
        [{"error": "RequestEntityTooLarge", "message": f"Request body is too large: the limit is {limit} bytes."}],
    )
    assert await stored(sessions, service.id) == 0


async def test_another_services_private_template_is_not_found(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    owner = await make_service(sessions, vault)
    template_id = uuid.uuid4()
    async with sessions() as session:
        session.add(Template(id=template_id, service_id=owner.id, name="Private", slug=f"private_{template_id.hex}",
                             channel="sms", language="en", body="Private: {{ message }}", content_hash="0" * 64,
                             source_path="(test)"))  # fmt: skip
        await session.commit()
    body = sms(template_id=str(template_id))
    await assert_errors(await post(client, service, SMS_PATH, body), 400, [bad("Template not found")])
    shown = await client.get(f"/v2/template/{template_id}", headers=bearer(service.live_key, service.id))
    await assert_errors(shown, 404, [{"error": "NoResultFound", "message": "No result found"}])
    listed = await client.get("/v2/templates", headers=bearer(service.live_key, service.id))
    assert str(template_id) not in {t["id"] for t in (await listed.json())["templates"]}
    assert await stored(sessions, service.id) == 0
    own = await post(client, owner, SMS_PATH, body)
    assert own.status == 201, await own.text()
    assert (await own.json())["content"]["body"] == "Private: Room 4"


@pytest.mark.parametrize(("path", "good"), [(SMS_PATH, OK_SMS), (EMAIL_PATH, OK_EMAIL)])
async def test_idempotency_key_returns_the_first_notification(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    good: dict[str, Any],
) -> None:
    first = await post(client, service, path, good, **{"Idempotency-Key": "case-7-release"})
    again = await post(client, service, path, good, **{"Idempotency-Key": "case-7-release"})
    assert first.status == again.status == 201
    assert (await first.json()) == (await again.json())
    assert await stored(sessions, service.id) == 1
    other = await post(client, service, path, good, **{"Idempotency-Key": "case-8-release"})
    assert (await other.json())["id"] != (await first.json())["id"]
    assert await stored(sessions, service.id) == 2


async def test_concurrent_requests_with_one_idempotency_key_store_one_row(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    sends = [post(client, service, SMS_PATH, OK_SMS, **{"Idempotency-Key": "burst"}) for _ in range(20)]
    responses = await asyncio.gather(*sends)
    assert [r.status for r in responses] == [201] * 20, [await r.text() for r in responses]
    assert len({(await r.json())["id"] for r in responses}) == 1
    assert await stored(sessions, service.id) == 1


IDEMPOTENCY_RULE = [bad("Idempotency-Key must be 1 to 255 printable ASCII characters")]


@pytest.mark.parametrize("key", ["", "k" * 256, "clé-7"])
async def test_bad_idempotency_key_is_400(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], key: str
) -> None:
    resp = await post(client, service, SMS_PATH, OK_SMS, **{"Idempotency-Key": key})
    await assert_errors(resp, 400, IDEMPOTENCY_RULE)
    assert await stored(sessions, service.id) == 0


async def test_idempotency_key_that_is_not_utf8_is_400(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """Raw bytes on the wire (no client library would send them) must not reach the database."""
    body = orjson.dumps(OK_SMS)
    head = (
        f"POST {SMS_PATH} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"Authorization: {bearer(service.live_key, service.id)['Authorization']}\r\n"
        f"Content-Length: {len(body)}\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(head + b"Idempotency-Key: \xff\xfe\r\n\r\n" + body)
    answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request", answer
    assert orjson.loads(rest.partition(b"\r\n\r\n")[2]) == {"status_code": 400, "errors": IDEMPOTENCY_RULE}
    assert await stored(sessions, service.id) == 0


READS = [
    ("/v2/notifications?status=elephant", "status elephant is not one of [{statuses}]"),
    ("/v2/notifications?status=delivered&status=lost", "status lost is not one of [{statuses}]"),
    ("/v2/notifications?template_type=fax", "template_type fax is not one of [sms, email, letter]"),
    ("/v2/notifications?older_than=yesterday", "older_than is not a valid UUID"),
    ("/v2/notifications?reference=case%007", "reference must not contain NUL characters"),
    ("/v2/notifications/12345", "notification_id is not a valid UUID"),
    ("/v2/templates?type=fax", "type fax is not one of [sms, email, letter]"),
    ("/v2/template/reminder", "template_id is not a valid UUID"),
    (f"/v2/template/{SMS}/version/0", "version 0 is not a positive integer"),
]


@pytest.mark.parametrize(("url", "message"), READS, ids=[r[0] for r in READS])
async def test_bad_read_parameters_are_400(
    client: TestClient, service: ServiceUnderTest, url: str, message: str
) -> None:
    statuses = ", ".join(sorted({s.value for s in NotificationStatus} | {"failed"}))
    resp = await client.get(url, headers=bearer(service.live_key, service.id))
    await assert_errors(resp, 400, [v(message.format(statuses=statuses))])


async def test_template_version_beyond_any_possible_is_404(client: TestClient, service: ServiceUnderTest) -> None:
    for version in ("2147483648", "9" * 30):
        resp = await client.get(f"/v2/template/{SMS}/version/{version}", headers=bearer(service.live_key, service.id))
        await assert_errors(resp, 404, [{"error": "NoResultFound", "message": "No result found"}])


@pytest.mark.parametrize("value", ["{{ 7*7 }}", "{% for x in range(9) %}x{% endfor %}", "{{ config }} {# c #}"])
async def test_personalisation_that_looks_like_template_code_is_sent_literally(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    value: str,
) -> None:
    resp = await post(client, service, SMS_PATH, sms(personalisation={"message": value}))
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["content"]["body"] == value
    async with sessions() as session:
        row = await session.scalar(select(Notification).where(Notification.service_id == service.id))
    assert row is not None and vault.open(row.body_enc) == value
