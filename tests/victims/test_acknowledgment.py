"""Acknowledgment and escalation: a text reply OK acknowledges (and lands in the unit's inbox, never
parole's); urgent kinds go at any hour with the override recorded and escalate after 1 h; a notice with
no way to reach the victim is `unreached` and alerts staff; unregistering stops escalation; forged
or unknown acknowledgment links change nothing."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from twilio.request_validator import RequestValidator

from gateway import keys
from gateway.db import Conversation, InboundMessage, Notification, VictimNotice, VictimNoticeStep
from tests.victims.conftest import ACCOUNT, TOKEN, World, bearer


async def notice(world: World, kind: str = "released") -> VictimNotice:
    [found] = [n for n in await world.notices() if n.kind == kind]
    return found


async def text_in(world: World, from_: str, to: str, body: str) -> int:
    sid = "SM" + secrets.token_hex(16)
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT, "From": from_, "To": to, "Body": body,
            "NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01"}  # fmt: skip
    url = world.client.app[keys.SETTINGS].base_url + "/webhooks/twilio/sms"
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    response = await world.client.post("/webhooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    return response.status


RELEASED = {"event_id": "r1", "kind": "released", "details": {"date": "2026-12-08"}}


async def test_a_text_reply_acknowledges_and_stays_in_the_unit(world: World) -> None:
    phone = "+12025550191"
    assert (await world.put_victim("V-r", world.victim("Ria", phone_numbers=[phone], channels=["sms"]))).status == 201
    assert (await world.event(RELEASED)).status == 201
    await world.settle()
    assert (await notice(world)).state == "open"
    assert await text_in(world, phone, world.vsu_number, "ok") == 200
    await world.settle()
    acknowledged = await notice(world)
    assert acknowledged.state == "acknowledged" and acknowledged.ack_via == "sms-reply"
    async with world.sessions() as db:
        inbound = (
            await db.scalars(
                select(InboundMessage).where(InboundMessage.service_id.in_([world.vsu.id, world.parole.id]))
            )
        ).all()
        assert inbound and all(m.service_id == world.vsu.id for m in inbound)
        assert not (await db.scalars(select(Conversation).where(Conversation.service_id == world.parole.id))).all()
    world.clock.advance(timedelta(hours=30))
    await world.sweep()
    assert len([s for s in await world.notices() if s.kind == "released"]) == 1
    async with world.sessions() as db:
        steps = (await db.scalars(select(VictimNoticeStep).where(VictimNoticeStep.notice_id == acknowledged.id))).all()
    assert len(steps) == 1  # nothing sent after the reply


async def test_urgent_escape_goes_at_night_with_the_override_and_escalates_after_an_hour(world: World) -> None:
    world.clock.set(datetime(2026, 12, 9, 3, 0, tzinfo=UTC))  # 3 am: quiet hours
    phone = "+12025550192"
    body = world.victim("Uma", phone_numbers=[phone], email_addresses=["uma@example.org"], channels=["sms", "email"])
    assert (await world.put_victim("V-u", body)).status == 201
    assert (await world.event({"event_id": "esc", "kind": "escaped", "details": {"facility": "MCI"}})).status == 201
    assert (await world.event({**RELEASED, "event_id": "slow"})).status == 201
    await world.settle()
    escaped, released = await notice(world, "escaped"), await notice(world, "released")
    assert escaped.urgent and not released.urgent
    texts = [m.body for m in world.twilio.messages if m.to == phone]
    assert len(texts) == 1 and texts[0].startswith("Test office") and "URGENT" in texts[0]  # the release waits
    async with world.sessions() as db:
        sent = (
            await db.scalars(
                select(Notification)
                .join(VictimNoticeStep, VictimNoticeStep.notification_id == Notification.id)
                .where(VictimNoticeStep.notice_id.in_([escaped.id, released.id]))
            )
        ).all()
    overrides = {n.status: n.quiet_override for n in sent}
    assert any(o and "escaped" in o for o in overrides.values())
    assert escaped.due_at is not None and escaped.due_at - escaped.created_at == timedelta(hours=1)
    assert released.due_at is not None and released.due_at - released.created_at == timedelta(hours=24)
    world.clock.advance(timedelta(minutes=61))
    await world.sweep()
    assert (await notice(world, "escaped")).step == 1  # on to email after one hour
    assert (await notice(world, "released")).step == 0


async def test_no_way_to_reach_them_is_unreached_and_alerts_staff(world: World) -> None:
    # letter only, confidential, with no substitute address cannot be registered; an address retired later can:
    body = world.victim("Ned", phone_numbers=["+12025550193"], channels=["sms"])
    assert (await world.put_victim("V-n", body)).status == 201
    async with world.sessions() as db:
        from gateway.db import StaffUser

        db.add(StaffUser(service_id=world.vsu.id, email="lead@vsu.example", name="Lee Lead", roles=["supervisor"]))
        await db.commit()
    assert (await world.event(RELEASED)).status == 201
    await world.settle()
    world.clock.advance(timedelta(hours=25))
    await world.sweep()  # sms -> certified letter: no postal address, so nothing left
    found = await notice(world, "released")
    assert found.state == "unreached" and found.due_at is None
    async with world.sessions() as db:
        emails = (
            await db.scalars(
                select(Notification).where(Notification.service_id == world.vsu.id, Notification.channel == "email")
            )
        ).all()
    assert [world.vault.open(n.recipient_enc) for n in emails] == ["lead@vsu.example"]
    assert "Ned" not in world.vault.open(emails[0].body_enc) and "+1202" not in world.vault.open(emails[0].body_enc)


async def test_unregistering_stops_escalation(world: World) -> None:
    body = world.victim(
        "Oli", phone_numbers=["+12025550194"], email_addresses=["oli@example.org"], channels=["sms", "email"]
    )
    assert (await world.put_victim("V-o", body)).status == 201
    assert (await world.event(RELEASED)).status == 201
    await world.settle()
    gone = await world.client.delete("/v2/victims/V-o", headers=bearer(world.vsu.live_key, world.vsu.id))
    assert gone.status == 200
    await world.settle()
    assert (await notice(world, "released")).state == "closed"
    world.clock.advance(timedelta(hours=25))
    await world.sweep()
    assert (await notice(world, "released")).step == 0
    assert (await world.event({**RELEASED, "event_id": "r2"})).status == 201
    await world.settle()
    assert len([n for n in await world.notices() if n.kind == "released"]) == 1  # no longer follows anything


async def test_forged_or_unknown_links_change_nothing(world: World) -> None:
    body = world.victim("Pat", email_addresses=["pat@example.org"], channels=["email"])
    assert (await world.put_victim("V-p", body)).status == 201
    assert (await world.event(RELEASED)).status == 201
    await world.settle()
    for token in ("abc", "a" * 42, "z" * 80):
        assert (await world.client.post(f"/victims/ack/{token}")).status == 404
    assert (await notice(world)).state == "open"
