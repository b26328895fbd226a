"""An Idempotency-Key belongs to one service, one key type and one request.

A key first used by a test key is unknown to the live key (a live request is never answered with a
test notification that was never sent); the same key with a different recipient, template,
personalisation or reference is a 409 in Notify's error shape, and stores nothing.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db import Notification
from tests.api.test_auth import bearer
from tests.api.test_bad_input import EMAIL_PATH, OK_EMAIL, OK_SMS, SMS_PATH, assert_errors, stored
from tests.factories import ServiceUnderTest


async def send(client: TestClient, key: str, s: ServiceUnderTest, path: str, body: dict[str, Any], idem: str) -> Any:
    return await client.post(
        path,
        data=io.BytesIO(orjson.dumps(body)),
        headers={**bearer(key, s.id), "Content-Type": "application/json", "Idempotency-Key": idem},
    )


async def test_a_key_first_used_by_a_test_key_does_not_answer_a_live_request(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    as_test = await send(client, service.test_key, service, SMS_PATH, OK_SMS, "release-42")
    as_live = await send(client, service.live_key, service, SMS_PATH, OK_SMS, "release-42")
    assert as_test.status == as_live.status == 201, await as_live.text()
    assert (await as_test.json())["id"] != (await as_live.json())["id"]
    async with sessions() as session:
        kinds = (
            await session.scalars(select(Notification.key_type).where(Notification.service_id == service.id))
        ).all()
    assert sorted(kinds) == ["live", "test"]  # the live one is a real send
    again = await send(client, service.live_key, service, SMS_PATH, OK_SMS, "release-42")
    assert (await again.json())["id"] == (await as_live.json())["id"]


def conflict(key: str) -> list[dict[str, str]]:
    return [
        {
            "error": "ConflictError",
            "message": f"Idempotency-Key '{key}' was already used for a different request (recipient, template, "
            "personalisation or reference differ); use a new key for a new message",
        }
    ]


CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("recipient", SMS_PATH, OK_SMS | {"phone_number": "+12025550199"}),
    ("personalisation", SMS_PATH, OK_SMS | {"personalisation": {"message": "Room 5"}}),
    ("reference", SMS_PATH, OK_SMS | {"reference": "another"}),
    ("template", SMS_PATH, OK_SMS | {"template_id": "5a5efae2-030e-4567-be82-818832040c57"}),
    ("email-recipient", EMAIL_PATH, OK_EMAIL | {"email_address": "someone.else@example.org"}),
]


@pytest.mark.parametrize(("path", "changed"), [c[1:] for c in CHANGES], ids=[c[0] for c in CHANGES])
async def test_the_same_key_for_a_different_request_is_409(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    changed: dict[str, Any],
) -> None:
    first_body = OK_SMS if path == SMS_PATH else OK_EMAIL
    first = await send(client, service.live_key, service, path, first_body, "visit-9")
    assert first.status == 201
    reused = await send(client, service.live_key, service, path, changed, "visit-9")
    await assert_errors(reused, 409, conflict("visit-9"))
    assert await stored(sessions, service.id) == 1


async def test_same_request_in_another_spelling_is_the_same_request(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The recipient is compared normalised and personalisation by value, not by key order."""
    body = OK_SMS | {"personalisation": {"message": "Room 4", "b": "x"}}
    first = await send(client, service.live_key, service, SMS_PATH, body, "spelling")
    respelled = body | {"phone_number": "(202) 555-0143", "personalisation": {"b": "x", "message": "Room 4"}}
    again = await send(client, service.live_key, service, SMS_PATH, respelled, "spelling")
    assert first.status == again.status == 201, await again.text()
    assert (await again.json())["id"] == (await first.json())["id"]
    assert await stored(sessions, service.id) == 1


async def test_racing_different_requests_with_one_key_store_one_and_refuse_the_rest(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bodies = [OK_SMS | {"personalisation": {"message": f"Room {i}"}} for i in range(10)]
    answers = await asyncio.gather(*(send(client, service.live_key, service, SMS_PATH, b, "race") for b in bodies))
    assert sorted(a.status for a in answers) == [201] + [409] * 9
    assert await stored(sessions, service.id) == 1
