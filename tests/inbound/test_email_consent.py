"""Consent by email: only the address a reply token was sent to may opt itself out or in; one-click unsubscribe.

Through the real path: replies arrive on the gateway's own SMTP listener (aiosmtpd) with forged and
genuine From headers; reminder-style email goes out over SMTP to a real aiosmtpd server, and its
List-Unsubscribe link is POSTed back to the running app.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiosmtplib
import pytest
from sqlalchemy import select

from gateway import keys
from gateway.api.intake import insert_notifications
from gateway.db import AuditEntry, ConsentEvent, InboundMessage, OptOut
from gateway.domain import Channel, KeyType, RecordKind
from gateway.jobs.delivery import enqueue_deliveries
from gateway.outbound import prepare_notification
from gateway.recipients import email_index_form
from gateway.reply_address import make_reply_address
from gateway.sendtime.consent import record_opt_out
from gateway.sendtime.policy import is_opted_out
from gateway.template_store import TemplateStore
from gateway.templating import Renderer
from handlers.identify import SENDER_MISMATCH
from tests.fakes.smtp_server import FakeSmtpServer
from tests.inbound.conftest import PUBLIC_URL, REPLY_DOMAIN, Enrolled, Gateway, GatewayFactory, add_person
from tests.inbound.test_email import EMAIL_TEMPLATE, outbound_email, reply

ATTACKER = "mallory@example.net"
VICTIM = "victim@example.org"


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    server = await FakeSmtpServer().start()
    yield server
    await server.stop()


async def listening(make_gateway: GatewayFactory, **overrides: object) -> tuple[Gateway, int]:
    gw = await make_gateway(inbound_smtp_port=0, inbound_smtp_host="127.0.0.1", **overrides)
    return gw, gw.client.app[keys.INBOUND_SMTP].port


async def opted_out(gw: Gateway, address: str) -> bool:
    async with gw.sessions() as session:
        index = gw.vault.blind_index(email_index_form(address))
        return await is_opted_out(session, gw.service.id, Channel.EMAIL, index, None)


async def consent_events(gw: Gateway) -> list[ConsentEvent]:
    async with gw.sessions() as session:
        rows = await session.scalars(select(ConsentEvent).where(ConsentEvent.service_id == gw.service.id))
        return list(rows)


async def write_from(gw: Gateway, port: int, token_for: Enrolled, sender: str, body: str) -> InboundMessage:
    """Reply to an email the gateway sent to `token_for`, with `From: sender`; the stored message."""
    notification_id = await outbound_email(gw, str(token_for.email), token_for.person_id, token_for.case_id)
    address = make_reply_address(gw.vault, notification_id, REPLY_DOMAIN)
    await aiosmtplib.send(reply(address, body, sender=sender), hostname="127.0.0.1", port=port)
    await gw.settle()
    return (await gw.inbound())[-1]


async def test_a_forged_from_cannot_opt_someone_else_out(make_gateway: GatewayFactory) -> None:
    gw, port = await listening(make_gateway)
    attacker = await add_person(gw, "+12025550101", email=ATTACKER)
    victim = await add_person(gw, "+12025550102", email=VICTIM)

    message = await write_from(gw, port, attacker, VICTIM, "STOP")

    assert not await opted_out(gw, VICTIM) and not await opted_out(gw, ATTACKER)
    assert await consent_events(gw) == []
    assert message.state == "processed" and message.person_id == attacker.person_id  # the token's conversation
    identify, opt_out, *_ = message.decisions
    assert identify["decision"].startswith(SENDER_MISMATCH)
    assert opt_out == {
        "handler": "opt_out",
        "outcome": "continue",
        "decision": f"STOP: not applied: {SENDER_MISMATCH}; kept as an ordinary reply",
    }
    assert message.decisions[-1]["handler"] == "case_handler"  # filed as an ordinary reply
    [entry] = [e for e in await gw.record(attacker.case_id) if e.inbound_id == message.id]
    assert entry.data["sender_mismatch"] is True and "keyword" not in entry.data
    assert SENDER_MISMATCH in str(entry.data["decisions"])
    assert await gw.record(victim.case_id) == []


async def test_a_forged_from_cannot_opt_someone_back_in(make_gateway: GatewayFactory) -> None:
    gw, port = await listening(make_gateway)
    attacker = await add_person(gw, "+12025550103", email=ATTACKER)
    await add_person(gw, "+12025550104", email=VICTIM)
    async with gw.sessions() as session:
        index = gw.vault.blind_index(email_index_form(VICTIM))
        await record_opt_out(
            session, service_id=gw.service.id, channel=Channel.EMAIL, address_index=index, source="test"
        )
        await session.commit()

    message = await write_from(gw, port, attacker, VICTIM, "START")

    assert await opted_out(gw, VICTIM)
    assert [e.action for e in await consent_events(gw)] == ["opt_out"]
    assert message.decisions[1]["decision"] == f"START: not applied: {SENDER_MISMATCH}; kept as an ordinary reply"


async def test_stop_from_the_address_the_token_was_sent_to_opts_out(make_gateway: GatewayFactory) -> None:
    gw, port = await listening(make_gateway)
    victim = await add_person(gw, "+12025550105", email=VICTIM)

    message = await write_from(gw, port, victim, VICTIM.upper(), "Stop")  # the same address, any case

    assert await opted_out(gw, VICTIM)
    last = message.decisions[-1]
    assert (last["handler"], last["outcome"], last["effect"]) == ("opt_out", "stop", "opted_out")
    assert (
        last["decision"]
        == f"STOP: opted out of email messages from this service; filed in conversation {message.conversation_id}"
    )
    [event] = await consent_events(gw)
    assert (event.action, event.source, event.inbound_id) == ("opt_out", "keyword", message.id)


async def test_a_reply_from_another_address_answers_no_question_and_gets_no_auto_reply(
    make_gateway: GatewayFactory,
) -> None:
    gw, port = await listening(make_gateway)
    person = await add_person(gw, "+12025550106", email=VICTIM, out_of_office="Back Monday")
    message = await write_from(gw, port, person, ATTACKER, "HELP")

    assert [d["handler"] for d in message.decisions] == ["identify", "opt_out", "answers", "victim_ack", "case_handler"]
    assert message.decisions[2]["decision"] == f"not taken as an answer: {SENDER_MISMATCH}"
    assert f"out of office: no reply: {SENDER_MISMATCH}" in message.decisions[4]["decision"]
    assert [n.channel for n in await gw.notifications()] == ["email"]  # only the one we replied to


async def reminder_email(gw: Gateway, to: str, person: Enrolled, *, one_click: bool) -> uuid.UUID:
    """An email as reminder or broadcast code writes it (`one_click_unsubscribe`), delivered for real."""
    template = await TemplateStore(gw.sessions).get(gw.service.id, EMAIL_TEMPLATE)
    prepared = prepare_notification(
        vault=gw.vault,
        renderer=Renderer(),
        template=template,
        channel=Channel.EMAIL,
        recipient=to,
        personalisation={"subject": "Reminder", "message": "Office visit Tuesday 9:30."},
        service_id=gw.service.id,
        key_type=KeyType.LIVE,
        person_id=person.person_id,
        case_id=person.case_id,
        sender="Parole Office <office@agency.example.org>",
        one_click_unsubscribe=one_click,
    )
    async with gw.client.app[keys.ENGINE].begin() as conn:
        await insert_notifications(conn, [prepared.row])
    notification_id = uuid.UUID(str(prepared.row["id"]))
    await enqueue_deliveries(gw.client.app[keys.QUEUE], [notification_id])
    await gw.settle()
    return notification_id


def smtp_settings(smtp: FakeSmtpServer) -> dict[str, object]:
    return {"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none"}


async def test_reminder_email_carries_a_one_click_unsubscribe_that_works(
    make_gateway: GatewayFactory, smtp: FakeSmtpServer
) -> None:
    gw = await make_gateway(**smtp_settings(smtp))
    person = await add_person(gw, "+12025550107", email=VICTIM)
    notification_id = await reminder_email(gw, VICTIM, person, one_click=True)
    await reminder_email(gw, VICTIM, person, one_click=False)  # staff or API mail: no unsubscribe header

    first, second = smtp.messages
    link = str(first.message["List-Unsubscribe"]).strip("<>")
    assert link.startswith(PUBLIC_URL + "/unsubscribe/")
    assert first.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert second.message["List-Unsubscribe"] is None and second.message["List-Unsubscribe-Post"] is None
    path = link[len(PUBLIC_URL) :]

    # A GET (a mail scanner, a link preview) only shows the button.
    page = await gw.client.get(path)
    assert page.status == 200 and "Unsubscribe</button>" in await page.text()
    assert not await opted_out(gw, VICTIM)

    # A tampered signature changes nothing.
    token = path.rsplit("/", 1)[1]
    tampered = path[: -len(token)] + token[:20] + ("a" if token[20] != "a" else "b") + token[21:]
    base32 = "abcdefghijklmnopqrstuvwxyz234567"
    unused_bits = path[:-1] + base32[base32.index(token[-1]) ^ 1]  # the same bytes, spelled another way
    for bad in (
        tampered,
        unused_bits,
        "/unsubscribe/" + make_reply_address(gw.vault, notification_id, "x").split("+")[1][:-2],
    ):
        refused = await gw.client.post(bad, data={"List-Unsubscribe": "One-Click"})
        assert refused.status == 404, bad
    assert not await opted_out(gw, VICTIM) and await consent_events(gw) == []

    # What a mail client sends for RFC 8058: a POST with no session and no CSRF token.
    done = await gw.client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status == 200 and 'data-testid="unsubscribed"' in await done.text()
    assert await opted_out(gw, VICTIM)
    assert not await opted_out(gw, ATTACKER)
    [event] = await consent_events(gw)
    assert (event.action, event.source, event.person_id) == ("opt_out", "one-click unsubscribe", person.person_id)
    [entry] = [e for e in await gw.record(person.case_id) if e.kind == RecordKind.CONSENT]
    assert entry.notification_id == notification_id and entry.actor == "recipient:one-click-unsubscribe"
    async with gw.sessions() as session:
        [audit] = await session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.unsubscribe"))
        assert (audit.service_id, audit.target, audit.outcome) == (gw.service.id, str(notification_id), "ok")
        [row] = await session.scalars(select(OptOut).where(OptOut.service_id == gw.service.id))
        assert row.address_index == gw.vault.blind_index(VICTIM) and row.source == "one-click unsubscribe"

    # The next reminder to that address is refused as opted out; a repeat POST is harmless.
    later = await reminder_email(gw, VICTIM, person, one_click=True)
    [n] = [n for n in await gw.notifications() if n.id == later]
    assert (n.status, n.failure_reason) == ("permanent-failure", "recipient opted out")
    assert (await gw.client.post(path)).status == 200
    assert len(await consent_events(gw)) == 2
