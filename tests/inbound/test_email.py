"""Inbound email: the SMTP listener, reply addresses, parsing, and the conversation a reply joins."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest

from gateway import keys
from gateway.api.intake import insert_notifications
from gateway.crypto import Vault
from gateway.domain import Channel, KeyType
from gateway.inbound.email_parse import html_to_text, parse_email, strip_quoted
from gateway.outbound import prepare_notification
from gateway.reply_address import make_reply_address
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from tests.inbound.conftest import REPLY_DOMAIN, Gateway, GatewayFactory, add_person

PHONE = "+12025550143"
EMAIL = "jordan.client@example.org"
EMAIL_TEMPLATE = uuid.UUID("a0d573e8-4e5c-43ae-a9ab-8a657559e03a")


async def outbound_email(gw: Gateway, to: str, person_id: uuid.UUID | None, case_id: uuid.UUID | None) -> uuid.UUID:
    """An email the gateway sent (committed through the one insert path), whose reply we will write."""
    template = await TemplateStore(gw.sessions).get(gw.service.id, EMAIL_TEMPLATE)
    prepared = prepare_notification(
        vault=gw.vault,
        renderer=Renderer(),
        template=template,
        channel=Channel.EMAIL,
        recipient=to,
        personalisation={"subject": "Your appointment", "message": "Tuesday 9:30, room 4."},
        service_id=gw.service.id,
        key_type=KeyType.LIVE,
        person_id=person_id,
        case_id=case_id,
    )
    async with gw.client.app[keys.ENGINE].begin() as conn:
        await insert_notifications(conn, [prepared.row])
    return uuid.UUID(str(prepared.row["id"]))


def reply(to: str, body: str, sender: str = EMAIL, message_id: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Jordan <{sender}>"
    mail["To"] = to
    mail["Subject"] = "Re: Your appointment"
    mail["Message-ID"] = message_id or f"<{uuid.uuid4().hex}@mail.example.org>"
    mail.set_content(body)
    return mail


async def smtp_gateway(make_gateway: GatewayFactory, **overrides: object) -> tuple[Gateway, int]:
    gw = await make_gateway(inbound_smtp_port=0, inbound_smtp_host="127.0.0.1", **overrides)
    return gw, gw.client.app[keys.INBOUND_SMTP].port


async def test_an_email_reply_joins_the_same_conversation_as_texts(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway)
    person = await add_person(gw, PHONE, email=EMAIL)
    await gw.text(PHONE, "Got your email, replying there")
    await gw.settle()
    notification_id = await outbound_email(gw, EMAIL, person.person_id, person.case_id)
    address = make_reply_address(gw.vault, notification_id, REPLY_DOMAIN)
    body = "Tuesday works.\n\nOn Mon, 3 Mar 2025 at 10:00, Parole Office <office@agency.example.org> wrote:\n> 9:30"
    await aiosmtplib.send(reply(address, body), hostname="127.0.0.1", port=port)
    await gw.settle()

    [conversation] = await gw.conversations()
    assert conversation.unread_count == 2 and conversation.person_id == person.person_id
    sms, email = await gw.inbound()
    assert (email.channel, email.state, email.conversation_id) == ("email", "processed", conversation.id)
    assert email.reply_to_notification_id == notification_id and email.case_id == person.case_id
    assert gw.vault.open(email.body_enc) == "Tuesday works."
    assert gw.vault.open(email.sender_enc) == EMAIL and email.recipient == address.lower()
    assert {e.inbound_id for e in await gw.record(person.case_id)} == {sms.id, email.id}


async def test_a_reply_from_another_address_still_finds_the_conversation(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway)
    person = await add_person(gw, PHONE, email=EMAIL)
    notification_id = await outbound_email(gw, EMAIL, person.person_id, person.case_id)
    address = make_reply_address(gw.vault, notification_id, REPLY_DOMAIN)
    await aiosmtplib.send(
        reply(address, "From my work address", sender="j.client@work.example"), hostname="127.0.0.1", port=port
    )
    await gw.settle()
    [message] = await gw.inbound()
    assert message.person_id == person.person_id
    assert "reply to notification" in message.decisions[0]["decision"]


async def test_an_api_email_reply_is_matched_by_the_senders_address(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway)
    person = await add_person(gw, PHONE, email=EMAIL)
    notification_id = await outbound_email(gw, EMAIL, None, None)  # sent by an agency system: no person
    address = make_reply_address(gw.vault, notification_id, REPLY_DOMAIN)
    await aiosmtplib.send(reply(address, "ok"), hostname="127.0.0.1", port=port)
    await gw.settle()
    [message] = await gw.inbound()
    assert (message.person_id, message.case_id) == (person.person_id, person.case_id)


async def test_addresses_that_are_not_reply_addresses_are_refused_at_rcpt(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway)
    real = make_reply_address(gw.vault, await outbound_email(gw, EMAIL, None, None), REPLY_DOMAIN)
    local, domain = real.split("@")
    forged = f"{local[:-2]}{'a' if local[-2] != 'a' else 'b'}{local[-1]}@{domain}"
    never_sent = make_reply_address(gw.vault, uuid.uuid4(), REPLY_DOMAIN)
    other_key = make_reply_address(Vault("another-gateway-secret-" + "y" * 30), uuid.uuid4(), REPLY_DOMAIN)
    for address in ("office@" + REPLY_DOMAIN, forged, never_sent, other_key):
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(reply(address, "hi"), hostname="127.0.0.1", port=port)
        [error] = refused.value.recipients
        assert (error.code, error.message) == (550, "5.1.1 No such recipient"), address
    assert await gw.inbound() == []


async def test_a_message_over_the_size_limit_is_refused(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway, inbound_smtp_max_bytes=4096)
    address = make_reply_address(gw.vault, await outbound_email(gw, EMAIL, None, None), REPLY_DOMAIN)
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await aiosmtplib.send(reply(address, "x" * 20_000), hostname="127.0.0.1", port=port)
    assert refused.value.code == 552
    assert await gw.inbound() == []


async def test_html_and_attachments_are_read_safely_and_a_resend_is_stored_once(make_gateway: GatewayFactory) -> None:
    gw, port = await smtp_gateway(make_gateway)
    await add_person(gw, PHONE, email=EMAIL)
    address = make_reply_address(gw.vault, await outbound_email(gw, EMAIL, None, None), REPLY_DOMAIN)
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = EMAIL, address, "Re: documents"
    mail["Message-ID"] = "<fixed-id-123@mail.example.org>"
    mail.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
        "<p>Here is my <b>pay stub</b> &amp; lease.</p><blockquote>Tuesday 9:30</blockquote></body></html>",
        subtype="html",
    )
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="../../etc/pay stub.pdf")
    mail.add_attachment(b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="run.exe")
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)
    await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)  # the same message again
    await gw.settle()
    [message] = await gw.inbound()
    assert message.provider_id == "<fixed-id-123@mail.example.org>"
    assert gw.vault.open(message.body_enc) == "Here is my pay stub & lease."
    assert message.media == [
        {"kind": "attachment", "filename": "pay stub.pdf", "content_type": "application/pdf", "size": 13},
        {"kind": "attachment", "filename": "run.exe", "content_type": "application/octet-stream", "size": 4},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Office <o@agency.example> wrote:\n> Can you come?", "Yes."),
        ("Yes.\n\nOn Mon, Mar 3, 2025 at 10:00 AM Office <\no@agency.example> wrote:\n> Can you come?", "Yes."),
        ("Sí.\n\nEl lun, 3 mar 2025 a las 10:00, Oficina escribió:\n> ¿Puede venir?", "Sí."),
        ("OK\n\n-----Original Message-----\nFrom: Office\nSent: Monday\nSubject: visit", "OK"),
        ("OK\r\n\r\n________________________________\r\nFrom: Office\r\nSent: Monday\r\nTo: me", "OK"),
        ("OK\n\nFrom: Office <o@agency.example>\nSent: Monday, March 3\nTo: Jordan\n\nCan you come?", "OK"),
        ("See you then\n> quoted\n>> older\nThanks\n-- \nJordan\n555-0100", "See you then\nThanks"),
        ("From: tomorrow I start my new job", "From: tomorrow I start my new job"),
    ],
)
def test_quoted_history_is_cut(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


def test_html_becomes_text_without_scripts_or_quotes() -> None:
    html = "<div>Line one<br>Line&nbsp;two</div><script>bad()</script><blockquote>old</blockquote><p>End</p>"
    assert html_to_text(html) == "Line one\nLine two\n\nEnd"


def test_a_message_without_message_id_is_identified_by_its_bytes() -> None:
    raw = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    first, second = parse_email(raw), parse_email(raw)
    assert first.message_id == second.message_id and first.message_id.startswith("sha256:")
    assert (first.sender, first.text, first.attachments) == ("a@example.org", "hello", [])
