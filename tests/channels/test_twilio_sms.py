"""TwilioSmsSender: the real `twilio` package against the fake Twilio app, over real HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

from gateway.channels.base import OutboundMessage, ProviderConfigError
from gateway.channels.twilio_sms import TwilioSmsSender, status_from_twilio
from gateway.domain import Channel, NotificationStatus
from gateway.errors import PermanentError, RetryableError
from tests.fakes.twilio_server import FAKE_TWILIO, FakeTwilio, Fault, make_fake_twilio

ACCOUNT = "AC" + "1f" * 16
TOKEN = "fake-auth-token-for-tests"
FROM = "+15005550006"
TO = "+15558675310"
SERVICE_SID = "MG" + "ab" * 16
S = NotificationStatus

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]
Fake = tuple[FakeTwilio, str]  # state, API base URL


def sms(to: str = TO, body: str = "Reminder: office visit tomorrow 10:00", **fields: Any) -> OutboundMessage:
    fields.setdefault("sender", FROM)
    return OutboundMessage(uuid.uuid4(), Channel.SMS, to, body, **fields)


@pytest.fixture
async def twilio(aiohttp_server: ServerFactory) -> Fake:
    app = make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = await aiohttp_server(app)
    return app[FAKE_TWILIO], str(server.make_url("")).rstrip("/")


@pytest.fixture
async def sender(twilio: Fake) -> AsyncIterator[TwilioSmsSender]:
    client = TwilioSmsSender(ACCOUNT, TOKEN, api_base=twilio[1], timeout=0.5)
    yield client
    await client.close()


@pytest.fixture
async def callback_receiver(aiohttp_server: ServerFactory) -> tuple[list[dict[str, Any]], str]:
    """The gateway's side of a status callback: checks the signature against its own URL."""
    received: list[dict[str, Any]] = []

    async def status(request: web.Request) -> web.Response:
        form = await request.post()
        url = str(request.url)
        signature = request.headers.get("X-Twilio-Signature", "")
        valid = RequestValidator(TOKEN).validate(url, form, signature)
        forged_ok = RequestValidator("another-token").validate(url, form, signature)
        received.append({"form": dict(form), "valid": valid, "forged_ok": forged_ok})
        return web.Response(status=204 if valid else 403)

    app = web.Application()
    app.router.add_post("/twilio/status", status)
    server = await aiohttp_server(app)
    return received, str(server.make_url("/twilio/status?notification=42"))


async def test_send_reaches_twilio_with_our_fields(sender: TwilioSmsSender, twilio: Fake) -> None:
    state = twilio[0]
    result = await sender.send(sms(status_callback="https://gw.example/twilio/status"))
    assert result.provider == "twilio"
    assert result.status is NotificationStatus.SENDING
    [message] = state.messages
    assert result.provider_ref == message.sid and message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.to, message.from_, message.messaging_service_sid) == (TO, FROM, None)
    assert message.body == "Reminder: office visit tomorrow 10:00"
    assert message.status_callback == "https://gw.example/twilio/status"


async def test_messaging_service_sid_is_sent_as_such(sender: TwilioSmsSender, twilio: Fake) -> None:
    await sender.send(sms(sender=SERVICE_SID))
    [message] = twilio[0].messages
    assert (message.from_, message.messaging_service_sid, message.status_callback) == (
        None,
        SERVICE_SID,
        None,
    )


async def test_concurrent_sends_share_one_client(sender: TwilioSmsSender, twilio: Fake) -> None:
    results = await asyncio.gather(*(sender.send(sms(body=f"n{i}")) for i in range(20)))
    assert len({r.provider_ref for r in results}) == 20
    assert sorted(m.body for m in twilio[0].messages) == sorted(f"n{i}" for i in range(20))


@pytest.mark.parametrize("status", [500, 503])
async def test_server_error_is_retryable(sender: TwilioSmsSender, twilio: Fake, status: int) -> None:
    twilio[0].script([Fault.http(status)])
    with pytest.raises(RetryableError):
        await sender.send(sms())
    assert await sender.send(sms())  # the next request is answered normally


async def test_429_is_retryable_with_retry_after(sender: TwilioSmsSender, twilio: Fake) -> None:
    twilio[0].script([Fault.too_many(retry_after=7)])
    with pytest.raises(RetryableError) as caught:
        await sender.send(sms())
    assert caught.value.retry_after == 7.0
    assert caught.value.code == "20429"


async def test_hung_provider_times_out(sender: TwilioSmsSender, twilio: Fake) -> None:
    twilio[0].script([Fault.hang()])
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        async with asyncio.timeout(5):  # fail, rather than hang, if the sender has no deadline
            await sender.send(sms())
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1.5  # timeout is 0.5 s


async def test_provider_down_is_retryable(unused_tcp_port: int) -> None:
    sender = TwilioSmsSender(ACCOUNT, TOKEN, api_base=f"http://127.0.0.1:{unused_tcp_port}", timeout=2)
    try:
        with pytest.raises(RetryableError) as caught:
            await sender.send(sms())
        assert caught.value.code == "connection"
    finally:
        await sender.close()


async def test_invalid_number_is_permanent_with_twilio_code(sender: TwilioSmsSender) -> None:
    with pytest.raises(PermanentError) as caught:
        await sender.send(sms(to="555-0100"))
    assert caught.value.code == "21211"
    assert "not a valid phone number" in caught.value.reason
    assert not isinstance(caught.value, ProviderConfigError)


@pytest.mark.parametrize("code", [21610, 21614, 21617])
async def test_recipient_errors_are_permanent(sender: TwilioSmsSender, twilio: Fake, code: int) -> None:
    twilio[0].script([Fault.error(code, message="Attempt to send to unsubscribed recipient")])
    with pytest.raises(PermanentError) as caught:
        await sender.send(sms())
    assert caught.value.code == str(code)
    assert caught.value.reason == "Attempt to send to unsubscribed recipient"
    assert not isinstance(caught.value, ProviderConfigError)


async def test_wrong_credentials_are_a_config_error(twilio: Fake) -> None:
    sender = TwilioSmsSender(ACCOUNT, "wrong-token", api_base=twilio[1], timeout=2)
    try:
        with pytest.raises(ProviderConfigError) as caught:
            await sender.send(sms())
    finally:
        await sender.close()
    assert isinstance(caught.value, PermanentError)
    assert caught.value.code == "20003"
    assert twilio[0].messages == []


async def test_missing_sender_is_a_config_error(sender: TwilioSmsSender, twilio: Fake) -> None:
    with pytest.raises(ProviderConfigError):
        await sender.send(sms(sender=None))
    assert twilio[0].requests == 0


async def test_logs_carry_ids_but_no_number_or_body(sender: TwilioSmsSender) -> None:
    with structlog.testing.capture_logs() as logs:
        message = sms(body="Secret parole detail")
        await sender.send(message)
        with pytest.raises(PermanentError):
            await sender.send(sms(to="+1555"))
    assert [entry["outcome"] for entry in logs] == ["accepted", "permanent"]
    assert logs[0]["notification_id"] == str(message.notification_id) and logs[0]["provider"] == "twilio"
    text = repr(logs)
    assert "Secret parole" not in text and TO not in text and "+1555" not in text


async def test_status_callback_is_signed_and_maps(
    sender: TwilioSmsSender,
    twilio: Fake,
    callback_receiver: tuple[list[dict[str, Any]], str],
) -> None:
    received, url = callback_receiver
    result = await sender.send(sms(status_callback=url))
    assert await twilio[0].send_status_callback(result.provider_ref, "undelivered", "30003") == 204
    [callback] = received
    assert callback["valid"] and not callback["forged_ok"]
    form = callback["form"]
    assert (form["MessageSid"], form["AccountSid"], form["To"], form["From"]) == (
        result.provider_ref,
        ACCOUNT,
        TO,
        FROM,
    )
    status = status_from_twilio(form["MessageStatus"], form.get("ErrorCode"))
    assert status is NotificationStatus.TEMPORARY_FAILURE


async def test_auto_callbacks_send_sent_then_delivered(
    aiohttp_server: ServerFactory, callback_receiver: tuple[list[dict[str, Any]], str]
) -> None:
    received, url = callback_receiver
    app = make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN, auto_callbacks=True)
    server = await aiohttp_server(app)
    sender = TwilioSmsSender(ACCOUNT, TOKEN, api_base=str(server.make_url("")).rstrip("/"), timeout=2)
    try:
        await sender.send(sms(status_callback=url))
    finally:
        await sender.close()
    for _ in range(100):
        if len(received) == 2:
            break
        await asyncio.sleep(0.02)
    assert [c["form"]["MessageStatus"] for c in received] == ["sent", "delivered"]
    assert all(c["valid"] for c in received)


# fmt: off
STATUS_TABLE = [
    ("accepted", None, S.SENDING), ("queued", None, S.SENDING), ("sending", None, S.SENDING),
    ("sent", None, S.SENDING), ("delivered", None, S.DELIVERED), ("read", None, S.DELIVERED),
    ("undelivered", "30003", S.TEMPORARY_FAILURE), ("undelivered", "30008", S.TEMPORARY_FAILURE),
    ("undelivered", None, S.TEMPORARY_FAILURE), ("undelivered", "30004", S.PERMANENT_FAILURE),
    ("undelivered", "30005", S.PERMANENT_FAILURE), ("undelivered", "30006", S.PERMANENT_FAILURE),
    ("undelivered", "30007", S.PERMANENT_FAILURE), ("failed", "21610", S.PERMANENT_FAILURE),
    ("failed", "21211", S.PERMANENT_FAILURE), ("failed", "30003", S.TEMPORARY_FAILURE),
    ("failed", None, S.TECHNICAL_FAILURE), ("failed", "30032", S.TECHNICAL_FAILURE),
    ("canceled", None, S.TECHNICAL_FAILURE), ("Delivered", "", S.DELIVERED),
    ("something-new", None, S.SENDING),
]
# fmt: on


@pytest.mark.parametrize(("twilio_status", "error_code", "expected"), STATUS_TABLE)
def test_status_mapping(twilio_status: str, error_code: str | None, expected: NotificationStatus) -> None:
    assert status_from_twilio(twilio_status, error_code) is expected
