"""Carrier keywords: STOP and START and HELP, their variants and Spanish, and what the delivery path does."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.db import ConsentEvent, Notification, OptOut
from gateway.domain import NotificationStatus
from gateway.keywords import Keyword, keyword_of
from tests.fakes.twilio_server import FakeTwilio
from tests.inbound.conftest import Gateway, add_person, send_sms

PHONE = "+12025550143"


@pytest.mark.parametrize(
    ("body", "word", "kind"),
    [
        ("STOP", "STOP", Keyword.OPT_OUT),
        ("stop", "STOP", Keyword.OPT_OUT),
        ("  Stop.  ", "STOP", Keyword.OPT_OUT),
        ("STOP!!", "STOP", Keyword.OPT_OUT),
        ("stopall", "STOPALL", Keyword.OPT_OUT),
        ("Unsubscribe", "UNSUBSCRIBE", Keyword.OPT_OUT),
        ("cancel", "CANCEL", Keyword.OPT_OUT),
        ("End", "END", Keyword.OPT_OUT),
        ("quit", "QUIT", Keyword.OPT_OUT),
        ("revoke", "REVOKE", Keyword.OPT_OUT),
        ("opt-out", "OPTOUT", Keyword.OPT_OUT),
        ("OptOut", "OPTOUT", Keyword.OPT_OUT),
        ("ALTO", "ALTO", Keyword.OPT_OUT),
        ("parar", "PARAR", Keyword.OPT_OUT),
        ("Detener.", "DETENER", Keyword.OPT_OUT),
        ("cancelar", "CANCELAR", Keyword.OPT_OUT),
        ("baja", "BAJA", Keyword.OPT_OUT),
        ("start", "START", Keyword.OPT_IN),
        ("Unstop", "UNSTOP", Keyword.OPT_IN),
        ("comenzar", "COMENZAR", Keyword.OPT_IN),
        ("Iniciar", "INICIAR", Keyword.OPT_IN),
        ("yes", "YES", Keyword.OPT_IN_IF_OPTED_OUT),
        ("Sí", "SI", Keyword.OPT_IN_IF_OPTED_OUT),
        ("help", "HELP", Keyword.HELP),
        ("Info?", "INFO", Keyword.HELP),
        ("AYUDA", "AYUDA", Keyword.HELP),
        ("información", "INFORMACION", Keyword.HELP),
    ],
)
def test_keywords_ignore_case_accents_and_punctuation(body: str, word: str, kind: Keyword) -> None:
    assert keyword_of(body) == (word, kind)


@pytest.mark.parametrize(
    "body",
    ["can't stop by today", "STOP PLEASE", "please cancel", "stop it", "Stopping by later", "", "   ", "?!", "helpful"],
)
def test_sentences_and_other_words_are_not_keywords(body: str) -> None:
    assert keyword_of(body) is None


async def _opt_outs(gw: Gateway, phone: str) -> list[OptOut]:
    async with gw.sessions() as session:
        rows = await session.scalars(
            select(OptOut).where(
                OptOut.service_id == gw.service.id, OptOut.address_index == gw.vault.blind_index(phone)
            )
        )
        return list(rows)


async def _consent(gw: Gateway, phone: str) -> list[tuple[str, str | None]]:
    async with gw.sessions() as session:
        rows = await session.execute(
            select(ConsentEvent.action, ConsentEvent.keyword)
            .where(ConsentEvent.service_id == gw.service.id, ConsentEvent.address_index == gw.vault.blind_index(phone))
            .order_by(ConsentEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _status(gw: Gateway, notification_id: object) -> tuple[str, str | None]:
    async with gw.sessions() as session:
        n = await session.get(Notification, notification_id)
        assert n is not None
        return n.status, n.failure_reason


async def test_stop_blocks_delivery_and_start_allows_it_again(gw: Gateway, fake_twilio: tuple[FakeTwilio, str]) -> None:
    person = await add_person(gw, PHONE)
    await gw.text(PHONE, "Stop.")
    await gw.settle()

    [row] = await _opt_outs(gw, PHONE)
    assert (row.channel, row.sender, row.opted_out, row.source) == ("sms", "", True, "keyword")
    assert await _consent(gw, PHONE) == [("opt_out", "STOP")]
    [message] = await gw.inbound()
    assert message.state == "processed", "a keyword ends the chain"
    assert [d["handler"] for d in message.decisions] == ["identify", "opt_out"]
    assert message.decisions[-1]["effect"] == "opted_out"
    [conversation] = await gw.conversations()  # ... and the message is in the officer's thread, unread
    assert (message.conversation_id, conversation.unread_count) == (conversation.id, 1)
    assert conversation.person_id == person.person_id
    [entry] = [e for e in await gw.record(person.case_id) if e.inbound_id == message.id]
    assert entry.kind == "inbound" and "opted out" in entry.summary
    assert entry.data["keyword"] == "STOP" and "Stop." not in entry.summary

    refused = await send_sms(gw, PHONE)
    await gw.settle()
    assert await _status(gw, refused) == (NotificationStatus.PERMANENT_FAILURE, "recipient opted out")
    assert fake_twilio[0].messages == []

    await gw.text(PHONE, "START")
    await gw.settle()
    [row] = await _opt_outs(gw, PHONE)
    assert row.opted_out is False
    assert await _consent(gw, PHONE) == [("opt_out", "STOP"), ("opt_in", "START")]
    allowed = await send_sms(gw, PHONE)
    await gw.settle()
    assert (await _status(gw, allowed))[0] == NotificationStatus.SENDING
    assert [m.to for m in fake_twilio[0].messages] == [PHONE]


async def test_variants_and_spanish_opt_out_but_a_sentence_does_not(gw: Gateway) -> None:
    phones = {"stop": "+12025550161", " ALTO! ": "+12025550162", "Cancelar": "+12025550163", "opt-out": "+12025550164"}
    for body, phone in phones.items():
        await gw.text(phone, body)
    sentence = "+12025550165"
    await add_person(gw, sentence)
    await gw.text(sentence, "can't stop by today, sorry")
    await gw.settle()
    for phone in phones.values():
        assert [r.opted_out for r in await _opt_outs(gw, phone)] == [True], phone
    assert await _opt_outs(gw, sentence) == []
    [conversation] = [c for c in await gw.conversations() if c.person_id is not None]
    assert conversation.unread_count == 1, "the sentence reached the officer"


async def test_help_replies_with_the_service_contact_text(gw: Gateway, fake_twilio: tuple[FakeTwilio, str]) -> None:
    contact = "Demo Parole Office: call 555-0100, Mon-Fri 9-5. Reply STOP to opt out."
    await gw.update_service(contact_text=contact)
    await add_person(gw, PHONE, language="es")
    await gw.text(PHONE, "Ayuda")
    await gw.settle()
    [reply] = fake_twilio[0].messages
    assert (reply.to, reply.from_, reply.body) == (PHONE, gw.number, contact)
    [message] = await gw.inbound()
    assert "contact details sent" in message.decisions[-1]["decision"]
    assert await _opt_outs(gw, PHONE) == []


async def test_yes_opts_in_only_someone_who_opted_out(gw: Gateway) -> None:
    await add_person(gw, PHONE)
    await gw.text(PHONE, "yes")
    await gw.settle()
    assert await _consent(gw, PHONE) == []
    [conversation] = await gw.conversations()
    assert conversation.unread_count == 1, "an ordinary yes reaches the officer"

    await gw.text(PHONE, "QUIT")
    await gw.settle()  # messages are handled concurrently: one at a time here, to know the order
    await gw.text(PHONE, "Sí")
    await gw.settle()
    assert await _consent(gw, PHONE) == [("opt_out", "QUIT"), ("opt_in", "SI")]
    assert [r.opted_out for r in await _opt_outs(gw, PHONE)] == [False]
