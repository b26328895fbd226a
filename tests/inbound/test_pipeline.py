"""The handler chain end to end: routing, unread marks, live pushes, auto-replies, failures and replay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway import keys
from gateway.db import InboundMessage, Notification, StaffUser
from gateway.domain import Channel
from gateway.inbound.jobs import sweep_inbound
from gateway.inbound.pipeline import InboundDeps, run_pipeline
from gateway.inbound.replay import replay
from gateway.inbound.store import Arrival, enqueue_processing, store_inbound
from gateway.record import verify_chain
from gateway.templating import Renderer
from handlers.base import InboundContext, Outcome
from handlers.conversations import file_message, person_key
from handlers.identify import Identify
from handlers.replies import CANNOT_RECEIVE
from tests.fakes.twilio_server import FakeTwilio
from tests.inbound.conftest import Gateway, GatewayFactory, add_person, clock_at

PHONE = "+12025550143"
STRANGER = "+12025550177"


def deps(gw: Gateway) -> InboundDeps:
    app = gw.client.app
    return InboundDeps(
        app[keys.SETTINGS], app[keys.SESSIONS], app[keys.VAULT], Renderer(), app[keys.QUEUE], app[keys.LIVE]
    )


async def stored(gw: Gateway, sender: str, body: str) -> uuid.UUID:
    """A committed message whose enqueue was lost (the process died between commit and enqueue)."""
    arrival = Arrival(gw.service.id, Channel.SMS, "SM" + uuid.uuid4().hex, sender, gw.number, body)
    inbound_id, created = await store_inbound(gw.client.app[keys.ENGINE], gw.vault, arrival)
    assert created
    return inbound_id


async def message(gw: Gateway, inbound_id: uuid.UUID) -> InboundMessage:
    async with gw.sessions() as session:
        row = await session.get(InboundMessage, inbound_id)
        assert row is not None
        return row


class Exploding:
    name = "exploding"
    description = "Fails on purpose"

    async def handle(self, message: InboundContext) -> Outcome:
        raise RuntimeError("boom")


class FileFirst:
    name = "file_first"
    description = "Writes a conversation before the failure, to show it is rolled back"

    async def handle(self, message: InboundContext) -> Outcome:
        assert message.person is not None
        await file_message(message, key=person_key(message.person.id), person_id=message.person.id)
        return Outcome.proceed("filed")


async def test_a_known_person_joins_their_officers_conversation_live(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    live = gw.client.app[keys.LIVE]
    async with live.subscribe(gw.service.id) as events:
        await gw.text(PHONE, "Running late, there in 10")
        await gw.text(PHONE, "Parking now")
        await gw.settle()
        pushed = [await asyncio.wait_for(anext(events), 2) for _ in range(2)]
    [conversation] = await gw.conversations()
    assert (conversation.person_id, conversation.assigned_staff_id) == (person.person_id, person.staff_id)
    assert (conversation.state, conversation.unread_count, conversation.case_id) == ("claimed", 2, person.case_id)
    assert {e["conversation_id"] for e in pushed} == {str(conversation.id)}
    assert sorted(e["unread_count"] for e in pushed) == [1, 2]
    assert "Parking" not in str(pushed) and PHONE not in str(pushed), "pushes carry ids, never content"
    messages = await gw.inbound()
    assert all(m.person_id == person.person_id and m.case_id == person.case_id for m in messages)
    entries = await gw.record(person.case_id)
    assert sorted(e.inbound_id for e in entries) == sorted(m.id for m in messages)
    assert all("late" not in e.summary and PHONE not in str(e.data) for e in entries)
    async with gw.sessions() as session:
        assert (await verify_chain(session, person.case_id)).ok


async def test_an_unknown_sender_lands_unclaimed_with_one_auto_reply_a_day(
    make_gateway: GatewayFactory, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    gw = await make_gateway(clock=clock_at(12))  # auto-replies keep quiet hours: midday in New York
    await gw.update_service(contact_text="Call 555-0100.")
    await gw.text(STRANGER, "Is this my PO's number?")
    await gw.settle()
    await gw.text(STRANGER, "Hello??")
    await gw.text("+12025550178", "who is this")
    await gw.settle()
    conversations = await gw.conversations()
    assert len(conversations) == 2
    assert all(c.person_id is None and c.assigned_staff_id is None and c.state == "unclaimed" for c in conversations)
    mine = next(c for c in conversations if c.sender_index == gw.vault.blind_index(STRANGER))
    assert mine.unread_count == 2 and mine.key == f"sender:sms:{mine.sender_index}"
    replies = fake_twilio[0].messages
    assert sorted(r.to for r in replies) == ["+12025550177", "+12025550178"], "one auto-reply per number per day"
    assert all(r.body.endswith("Call 555-0100.") and r.from_ == gw.number for r in replies)
    decisions = [m.decisions[-1]["decision"] for m in await gw.inbound()]
    assert sum("already sent today" in d for d in decisions) == 1


async def test_an_auto_reply_at_night_waits_for_eight_in_the_senders_zone(
    make_gateway: GatewayFactory, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    night = clock_at(2)  # 02:00 in New York, where a 202 number is
    gw = await make_gateway(clock=night)
    await gw.text(STRANGER, "Is this my PO's number?")
    await gw.settle()
    assert fake_twilio[0].messages == []
    [reply] = await gw.notifications()
    assert reply.automatic and reply.status == "created"
    assert reply.next_attempt_at == night.now() + timedelta(hours=6)  # 08:00 there


@pytest.mark.parametrize("sender", ["ACME", "", "86753"])
async def test_no_auto_reply_to_a_sender_that_cannot_receive_one(
    gw: Gateway, fake_twilio: tuple[FakeTwilio, str], sender: str
) -> None:
    """An alphanumeric sender id, no sender or a short code: the carrier would refuse a reply."""
    await gw.text(sender, "Your parcel is waiting")
    await gw.settle()
    [message] = await gw.inbound()
    [conversation] = await gw.conversations()
    assert message.state == "processed" and conversation.state == "unclaimed"
    assert message.decisions[-1]["decision"] == (
        f"unclaimed conversation {conversation.id}; no auto-reply: {CANNOT_RECEIVE}"
    )
    assert fake_twilio[0].messages == [] and await gw.notifications() == []


async def test_out_of_office_replies_once_a_day(
    make_gateway: GatewayFactory, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    gw = await make_gateway(clock=clock_at(12))
    away = "Olive is away until Monday. For urgent matters call the duty officer on 555-0199."
    await add_person(gw, PHONE, out_of_office=away)
    await gw.text(PHONE, "Can I travel to see my mother this weekend?")
    await gw.settle()
    await gw.text(PHONE, "Hello?")
    await gw.settle()
    assert [(m.to, m.body) for m in fake_twilio[0].messages] == [(PHONE, away)]
    async with gw.sessions() as session:
        [reply] = (await session.scalars(select(Notification).where(Notification.service_id == gw.service.id))).all()
    assert reply.person_id is not None and reply.case_id is not None


async def test_the_officer_gets_an_alert_without_the_message(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(inbound_staff_alerts=True)
    person = await add_person(gw, PHONE)
    await gw.text(PHONE, "My new address is 12 Elm Street")
    await gw.settle()
    await gw.text(PHONE, "Flat 3")
    await gw.settle()
    [alert] = [n for n in await gw.notifications() if n.channel == Channel.EMAIL]
    body = gw.vault.open(alert.body_enc)
    assert "Elm" not in body and "Flat" not in body
    assert gw.vault.open(alert.subject_enc or "") == f"New text message in {gw.service.name}"
    [conversation] = await gw.conversations()
    assert f"/conversations/{conversation.id}" in body and alert.person_id is None
    assert conversation.assigned_staff_id == person.staff_id
    async with gw.sessions() as session:
        officer = await session.get_one(StaffUser, person.staff_id)
    assert gw.vault.open(alert.recipient_enc) == officer.email
    assert alert.status == "delivered", "sent (to the email sandbox in this test)"


async def test_a_failing_handler_keeps_the_message_and_replay_processes_it(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    inbound_id = await stored(gw, PHONE, "Where do I report on Monday?")
    outcome = await run_pipeline(deps(gw), inbound_id, chain=[Identify(), FileFirst(), Exploding()])
    assert outcome == "failed"
    failed = await message(gw, inbound_id)
    assert (failed.state, failed.stage) == ("failed", "exploding")
    assert failed.error == "RuntimeError: boom"
    assert [d["handler"] for d in failed.decisions] == ["identify", "file_first"]
    assert await gw.conversations() == [], "the chain is one transaction: its writes were rolled back"
    [entry] = await gw.record(person.case_id)
    assert entry.kind == "handler" and "exploding failed" in entry.summary and entry.inbound_id == inbound_id

    assert await run_pipeline(deps(gw), inbound_id) == "skipped", "a failed message is only re-run by replay"
    [result] = await replay(deps(gw), [inbound_id])
    assert (result.outcome, result.stage) == ("processed", None)
    done = await message(gw, inbound_id)
    assert (done.state, done.stage, done.error, done.case_id) == ("processed", None, None, person.case_id)
    [conversation] = await gw.conversations()
    assert done.conversation_id == conversation.id and conversation.unread_count == 1
    entries = await gw.record(person.case_id)
    assert [e.kind for e in entries] == ["handler", "inbound"]
    [again] = await replay(deps(gw), [inbound_id])
    assert again.outcome == "skipped (processed)"


async def test_a_lost_enqueue_is_picked_up_by_the_sweeper(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(sweep_grace_seconds=0)

    class DownQueue:
        async def enqueue(
            self, function: str, *args: str, job_id: str | None = None, defer_by: float | None = None
        ) -> bool:
            raise ConnectionError("redis is down")

    person = await add_person(gw, PHONE)
    inbound_id = await stored(gw, PHONE, "Checking in")
    assert await enqueue_processing(DownQueue(), inbound_id) is False
    assert (await message(gw, inbound_id)).state == "received"
    # What the sweeper runs on every tick (gateway.jobs.sweeper.sweep calls it).
    ctx = {"settings": gw.settings, "sessions": gw.sessions, "queue": gw.client.app[keys.QUEUE]}
    assert await sweep_inbound(ctx) >= 1
    await gw.settle()
    assert (await message(gw, inbound_id)).state == "processed"
    assert [e.inbound_id for e in await gw.record(person.case_id)] == [inbound_id]


async def test_running_the_job_twice_handles_the_message_once(gw: Gateway) -> None:
    person = await add_person(gw, PHONE)
    inbound_id = await stored(gw, PHONE, "twice?")
    results = await asyncio.gather(*(run_pipeline(deps(gw), inbound_id) for _ in range(3)))
    assert "processed" in results and set(results) <= {"processed", "skipped"}
    assert await run_pipeline(deps(gw), inbound_id) == "skipped"
    assert len(await gw.record(person.case_id)) == 1
    [conversation] = await gw.conversations()
    assert conversation.unread_count == 1
