"""The Twilio inbound webhook: signatures, de-duplication, unknown numbers, MMS references."""

from __future__ import annotations

import asyncio

from gateway.domain import Channel
from tests.inbound.conftest import (
    EMPTY_TWIML_TEXT,
    PUBLIC_URL,
    WEBHOOK,
    Gateway,
    add_person,
    sign,
    sms_form,
    unique_number,
)

PHONE = "+12025550143"


async def test_a_signed_text_is_stored_sealed_and_answered_with_empty_twiml(gw: Gateway) -> None:
    response = await gw.text(PHONE, "Running 10 minutes late")
    assert response.content_type == "text/xml"
    assert await response.text() == EMPTY_TWIML_TEXT
    [message] = await gw.inbound()
    assert message.channel == Channel.SMS and message.recipient == gw.number
    assert gw.vault.open(message.body_enc) == "Running 10 minutes late"
    assert gw.vault.open(message.sender_enc) == PHONE
    assert message.sender_index == gw.vault.blind_index(PHONE)
    assert "Running" not in message.body_enc and PHONE not in message.sender_enc
    await gw.settle()
    [message] = await gw.inbound()
    assert message.state == "processed", message.error


async def test_forged_and_unsigned_webhooks_are_refused_and_store_nothing(gw: Gateway) -> None:
    form = sms_form(gw.number, PHONE, "hello")
    unsigned = await gw.post_form(form, signature=None)
    assert unsigned.status == 403
    forged = await gw.post_form(form, signature=sign(form, token="not-the-auth-token"))
    assert forged.status == 403
    tampered = dict(form, Body="hello, changed on the way")
    altered = await gw.post_form(tampered, signature=sign(form))
    assert altered.status == 403
    wrong_url = await gw.post_form(form, signature=sign(form, url="http://127.0.0.1:8080" + WEBHOOK))
    assert wrong_url.status == 403, "the signature is checked against the public URL"
    assert await gw.inbound() == []


async def test_a_retried_or_replayed_webhook_is_stored_once(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    form = sms_form(gw.number, PHONE, "Can we move Tuesday?")
    first = await gw.post_form(form)
    replayed = await gw.post_form(form)  # the same signed request again, byte for byte
    concurrent = await asyncio.gather(*(gw.post_form(form) for _ in range(5)))
    assert {first.status, replayed.status, *(r.status for r in concurrent)} == {200}
    await gw.settle()
    [message] = await gw.inbound()
    entries = [e for e in await gw.record(person.case_id) if e.inbound_id == message.id]
    assert len(entries) == 1
    [conversation] = await gw.conversations()
    assert conversation.unread_count == 1


async def test_a_text_to_a_number_no_service_owns_is_acknowledged_and_dropped(gw: Gateway) -> None:
    form = sms_form(unique_number(), PHONE, "wrong number")
    response = await gw.post_form(form)
    assert response.status == 200 and await response.text() == EMPTY_TWIML_TEXT
    assert await gw.inbound() == []


async def test_mms_media_are_kept_as_references_only(gw: Gateway) -> None:
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME{'0' * 32}"
    await gw.text(
        PHONE,
        "photo of my pay stub",
        NumMedia="2",
        MediaUrl0=url,
        MediaContentType0="image/jpeg",
        MediaUrl1=url + "1",
        MediaContentType1="application/pdf",
    )
    [message] = await gw.inbound()
    assert message.media == [
        {"kind": "mms", "url": url, "content_type": "image/jpeg"},
        {"kind": "mms", "url": url + "1", "content_type": "application/pdf"},
    ]


async def test_public_url_is_what_twilio_signed(gw: Gateway) -> None:
    assert gw.settings.base_url == PUBLIC_URL
