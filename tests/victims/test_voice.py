"""Voice notices through the fake Twilio's Calls API: a machine hears only "please call"; 9 plays the notice
again, then 1 acknowledges; Spanish is said in Spanish; a call nobody answers is tried again across the
window by the sweeper; a forged or unsigned callback is refused and changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from gateway.db import VictimCall
from tests.fakes.twilio_calls import FakeCall
from tests.victims.conftest import START, World, number

RELEASED = {"event_id": "v1", "kind": "released", "details": {"date": "2026-12-08", "town": "Lowell"}}


def mine(world: World) -> list[FakeCall]:
    """Calls to this test's victim (the sweeper also retries other tests' calls in the shared database)."""
    return [c for c in world.twilio.voice.calls if c.to == world.victim_phone]


async def call_victim(world: World, answer: str, keys: str = "1", **victim: object) -> None:
    world.twilio.voice.answer, world.twilio.voice.keys = answer, keys
    world.victim_phone = number()
    body = world.victim("Vic", phone_numbers=[world.victim_phone], channels=["voice", "sms"])
    body.update(victim)
    assert (await world.put_victim("V-v", body)).status == 201
    world.twilio.voice.done.clear()
    assert (await world.event(RELEASED)).status == 201
    await world.settle()
    await world.calls_finished(world.victim_phone)


async def calls(world: World) -> list[VictimCall]:
    async with world.sessions() as db:
        return list((await db.scalars(select(VictimCall).where(VictimCall.service_id == world.vsu.id))).all())


async def test_a_machine_hears_only_please_call(world: World) -> None:
    await call_victim(world, "machine_start")
    [call] = mine(world)
    [twiml] = call.twiml
    assert "Please call " + world.vsu_number in twiml
    assert "Chris Doe" not in twiml and "released" not in twiml and "<Gather" not in twiml
    [row] = await calls(world)
    assert row.answered_by == "machine_start" and row.state == "retry" and row.attempts == 1
    [notice] = await world.notices()
    assert notice.state == "open"


async def test_nine_repeats_then_one_acknowledges_in_spanish(world: World) -> None:
    await call_victim(world, "human", keys="91", language="es")
    [call] = mine(world)
    assert len(call.twiml) == 3
    assert call.twiml[0] == call.twiml[1]  # 9: the whole notice again
    assert '<Say language="es-MX">' in call.twiml[0] and "fue puesto en libertad" in call.twiml[0]
    assert "Oprima 9" in call.twiml[0] and "Gracias" in call.twiml[2]
    [notice] = await world.notices()
    assert notice.state == "acknowledged" and notice.ack_via == "keypress"


async def test_no_answer_is_called_again_within_the_window(world: World) -> None:
    await call_victim(world, "no-answer")
    [row] = await calls(world)
    assert row.state == "retry" and row.attempts == 1 and row.next_attempt_at is not None
    world.twilio.voice.answer = "human"
    assert row.next_attempt_at - START == timedelta(hours=8)  # 3 attempts across the 24 h window
    world.clock.set(row.next_attempt_at - timedelta(minutes=1))
    await world.sweep()
    assert len(mine(world)) == 1  # not due yet
    world.clock.set(START + timedelta(hours=18))  # 09:00 UTC, 04:00 in Washington: quiet hours hold the call
    await world.sweep()
    assert len(mine(world)) == 1
    world.clock.set(START + timedelta(hours=23))  # 09:00 in Washington
    await world.sweep()
    await world.calls_finished(world.victim_phone, 2)
    assert len(mine(world)) == 2
    [notice] = await world.notices()
    assert notice.state == "acknowledged"
    [row] = await calls(world)
    assert row.attempts == 2 and row.state == "acknowledged"


async def test_forged_callbacks_are_refused(world: World) -> None:
    await call_victim(world, "machine_start")
    [call] = mine(world)
    path = "/" + call.url.split("/", 3)[3]
    form = {"CallSid": call.sid, "Digits": "1", "AccountSid": "AC" + "0" * 32}
    assert (await world.client.post(path + "/gather", data=form)).status == 403
    assert (await world.client.post(path + "/gather", data=form, headers={"X-Twilio-Signature": "bad"})).status == 403
    assert (await world.client.post("/webhooks/twilio/voice/nottoken/gather", data=form)).status == 403
    [notice] = await world.notices()
    assert notice.state == "open"
