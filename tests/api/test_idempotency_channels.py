"""An Idempotency-Key answers for one kind of request: reusing it for another channel is a 400."""

from __future__ import annotations

from tests.api.test_bad_input import OK_EMAIL, OK_SMS, assert_errors, bad, post, stored

SMS_PATH, EMAIL_PATH = "/v2/notifications/sms", "/v2/notifications/email"


async def test_key_reused_for_another_channel_is_refused(client, service, sessions) -> None:  # type: ignore[no-untyped-def]
    first = await post(client, service, SMS_PATH, OK_SMS, **{"Idempotency-Key": "visit-12"})
    assert first.status == 201
    reused = await post(client, service, EMAIL_PATH, OK_EMAIL, **{"Idempotency-Key": "visit-12"})
    await assert_errors(reused, 400, [bad("Idempotency-Key was already used for an sms notification")])
    assert await stored(sessions, service.id) == 1
