"""Input limits on the inbound paths, on both databases: a chunked body over the webhook limit, NUL
characters in signed webhook fields and in an inbound email's Message-ID and text."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiosmtplib

from gateway.reply_address import make_reply_address
from gateway.webhooks.twilio_signature import MAX_FORM_BYTES
from tests.inbound.conftest import REPLY_DOMAIN, WEBHOOK, Gateway, GatewayFactory, sign, sms_form
from tests.inbound.test_email import EMAIL, outbound_email, smtp_gateway

PHONE = "+12025550143"


async def test_a_chunked_body_over_the_limit_is_413_and_stores_nothing(gw: Gateway) -> None:
    form = sms_form(gw.number, PHONE, "x" * 500_000)
    encoded = urlencode(form).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(encoded), 16_384):
            yield encoded[start : start + 16_384]

    response = await gw.client.post(
        WEBHOOK,
        data=chunks(),  # no Content-Length: Transfer-Encoding: chunked
        headers={"X-Twilio-Signature": sign(form), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413
    assert await response.json() == {
        "status_code": 413,
        "errors": [
            {
                "error": "RequestEntityTooLarge",
                "message": f"Webhook body is too large: the limit is {MAX_FORM_BYTES} bytes",
            }
        ],
    }
    assert await gw.inbound() == []


async def test_a_chunked_body_under_the_limit_is_accepted(gw: Gateway) -> None:
    form = sms_form(gw.number, PHONE, "chunked but small")
    encoded = urlencode(form).encode()

    async def chunks() -> AsyncIterator[bytes]:
        yield encoded[:50]
        yield encoded[50:]

    response = await gw.client.post(
        WEBHOOK,
        data=chunks(),
        headers={"X-Twilio-Signature": sign(form), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200, await response.text()
    assert len(await gw.inbound()) == 1


async def test_a_nul_in_a_signed_message_sid_is_a_400_naming_it(gw: Gateway) -> None:
    sid = "SM" + "0" * 15 + "\x00" + "0" * 16
    response = await gw.post_form(sms_form(gw.number, PHONE, "hello", sid=sid))
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert errors == [
        {"error": "ValidationError", "message": "webhook field SmsMessageSid must not contain NUL characters"}
    ]
    assert await gw.inbound() == []
    status_form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": "AC1"}
    status = await gw.client.post(
        "/webhooks/twilio/status",
        data=status_form,
        headers={"X-Twilio-Signature": sign(status_form, url="https://gateway.agency.example/webhooks/twilio/status")},
    )
    assert status.status == 400


def raw_mail(to: str, message_id: str, body: str) -> bytes:
    return (
        f"From: Jordan <{EMAIL}>\r\nTo: {to}\r\nSubject: Re: visit\r\nMessage-ID: {message_id}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    ).encode()


async def test_a_nul_in_an_inbound_message_id_is_stored_once_not_refused_forever(
    make_gateway: GatewayFactory,
) -> None:
    gw, port = await smtp_gateway(make_gateway)
    nid = await outbound_email(gw, EMAIL, None, None)
    address = make_reply_address(gw.vault, nid, REPLY_DOMAIN)
    mail = raw_mail(address, f"<abc\x00{uuid.uuid4().hex}@mail.example.org>", "See you Tuesday\x00 then")
    for _ in range(2):  # the sender's retry (or a resend) must not make a second row
        errors, answer = await aiosmtplib.send(
            mail, sender=EMAIL, recipients=[address], hostname="127.0.0.1", port=port
        )
        assert errors == {} and answer.startswith("2.0.0"), answer
    [message] = await gw.inbound()
    assert message.provider_id.startswith("sha256:") and "\x00" not in message.provider_id
    assert gw.vault.open(message.body_enc) == "See you Tuesday then"
