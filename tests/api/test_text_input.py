"""Text the API refuses: NUL characters in any field, and messages nobody could see (only spaces and
zero-width characters). Precise errors, nothing stored, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.api.test_bad_input import EMAIL_PATH, SMS_PATH, assert_errors, bad, email, post, sms, stored, v
from tests.factories import ServiceUnderTest

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
MISSING = "Missing personalisation: message"

CASES: list[tuple[str, str, dict[str, Any], list[dict[str, str]]]] = [
    ("nul-phone", SMS_PATH, sms(phone_number="+1202555\x000143"), [v("phone_number must not contain NUL characters")]),
    (
        "nul-email",
        EMAIL_PATH,
        email(email_address="a\x00@example.org"),
        [v("email_address must not contain NUL characters")],
    ),
    (
        "nul-personalisation",
        SMS_PATH,
        sms(personalisation={"message": "Room\x004"}),
        [v("personalisation 'message' must not contain NUL characters")],
    ),
    (
        "nul-in-a-list",
        SMS_PATH,
        sms(personalisation={"message": ["a", "b\x00"]}),
        [v("personalisation 'message' must not contain NUL characters")],
    ),
    ("zero-width-only", SMS_PATH, sms(personalisation={"message": ZERO_WIDTH}), [bad(MISSING)]),
    ("zero-width-and-spaces", SMS_PATH, sms(personalisation={"message": f" {ZERO_WIDTH} \u00a0 "}), [bad(MISSING)]),
    (
        "zero-width-email",
        EMAIL_PATH,
        email(personalisation={"subject": "Visit", "message": ZERO_WIDTH}),
        [bad(MISSING)],
    ),
]


@pytest.mark.parametrize(("path", "body", "errors"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_unstorable_or_invisible_text_is_refused_and_stores_nothing(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    body: dict[str, Any],
    errors: list[dict[str, str]],
) -> None:
    resp = await post(client, service, path, body)
    await assert_errors(resp, 400, errors)
    assert await stored(sessions, service.id) == 0


async def test_a_message_with_some_visible_text_and_a_zero_width_joiner_is_sent(
    client: TestClient, service: ServiceUnderTest
) -> None:
    resp = await post(client, service, SMS_PATH, sms(personalisation={"message": "ok\u200d"}))
    assert resp.status == 201, await resp.text()
