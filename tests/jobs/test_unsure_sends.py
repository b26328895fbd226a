"""A send that got no answer is not sent again when the provider took it (`gateway.jobs.unsure`).

The real path: the `twilio` package against the fake Twilio, which can take a message and answer after
the client's timeout (`Fault.slow`), and lists what it took as Twilio's Messages list does. Each test
counts what reached the fake: a client, or a victim, must not get the same text twice because a
provider was slow to answer or a worker died mid-send.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select, update

from gateway.db import Notification, NotificationEvent
from gateway.db.base import utcnow
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.delivery import deliver
from gateway.jobs.prepare import prepare
from gateway.jobs.sweeper import sweep
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio, Fault
from tests.jobs.conftest import Harness, add_notification

S = NotificationStatus
TO = "+12025550144"
FOUND = "found at the provider after a send that got no answer, not sent again"


async def details(h: Harness, nid: object) -> list[str]:
    events = NotificationEvent
    async with h.sessions() as session:
        rows = await session.scalars(select(events.detail).where(events.notification_id == nid).order_by(events.id))
        return [d or "" for d in rows]


async def test_a_send_twilio_took_but_answered_too_late_is_recorded_not_sent_again(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    twilio = fake_twilio[0]
    twilio.script([Fault.slow(3 * harness.settings.twilio_timeout)])  # taken, answered after the client gave up
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO, message="Group moved to room 4.")
    await harness.deliver(nid)
    await harness.run()

    [taken] = twilio.messages  # once, although the first send timed out
    n = await harness.get(nid)
    assert (n.status, n.provider_ref, n.attempts) == (S.SENDING, taken.sid, 1)
    assert n.unsure_since is not None and twilio.requests == 1 and twilio.lookups == 1
    found = await details(harness, nid)
    assert "provider failed, retrying: timeout: Twilio did not answer within 0.5s" in found
    assert found[-1] == f"accepted by twilio ({taken.sid}): {FOUND}"


async def test_a_send_twilio_did_not_take_goes_again_once(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    twilio = fake_twilio[0]
    twilio.script([Fault.hang(seconds=3)])  # no answer, nothing taken
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    await harness.deliver(nid)
    await harness.run()

    [sent] = twilio.messages
    n = await harness.get(nid)
    assert (n.status, n.provider_ref) == (S.SENDING, sent.sid)
    assert (twilio.requests, twilio.lookups) == (2, 1)
    assert FOUND not in (await details(harness, nid))[-1]


async def test_the_same_text_sent_before_by_another_notification_is_not_mistaken_for_it(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """Two reminders with the same words to the same phone: the first was sent and recorded; the second's
    send got no answer and was not taken. Twilio's list shows the first's message, which is not the second."""
    twilio = fake_twilio[0]
    first = await add_notification(harness, sender_service.id, Channel.SMS, TO, message="Drug test tomorrow 9:00.")
    await harness.deliver(first)
    await harness.run()
    twilio.script([Fault.hang(seconds=3)])
    second = await add_notification(harness, sender_service.id, Channel.SMS, TO, message="Drug test tomorrow 9:00.")
    await harness.deliver(second)
    await harness.run()

    assert [m.body for m in twilio.messages] == ["Drug test tomorrow 9:00."] * 2
    a, b = await harness.get(first), await harness.get(second)
    assert (a.provider_ref, b.provider_ref) == (twilio.messages[0].sid, twilio.messages[1].sid)
    assert twilio.lookups == 1 and b.status == S.SENDING


async def test_asking_twilio_while_it_is_down_sends_nothing(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    twilio = fake_twilio[0]
    since = utcnow() - timedelta(seconds=5)
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO, unsure_since=since)
    twilio.outage = 503
    [verdict] = await deliver(harness.ctx, [nid])

    assert (twilio.lookups, twilio.requests, twilio.messages) == (1, 0, [])  # asked, and sent nothing
    n = await harness.get(nid)
    assert (verdict.outcome, n.status, n.attempts, n.unsure_since) == ("retry", S.CREATED, 0, since)
    twilio.outage = None
    await harness.deliver(nid)
    await harness.run()
    [sent] = twilio.messages
    assert (await harness.get(nid)).provider_ref == sent.sid


async def test_a_send_lost_with_its_worker_is_not_sent_again_when_twilio_took_it(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """A worker claims a message, Twilio takes it, and the worker dies before recording it: the sweeper
    takes the claim back once its lease is out, and the next send finds the message at Twilio, behind
    120 texts the same phone got since."""
    twilio = fake_twilio[0]
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO, message="Office closed today.")
    [claimed] = (await prepare(harness.ctx, [nid])).claimed
    sms = harness.ctx["senders"][Channel.SMS]
    await sms.send(claimed.message)  # taken; the worker dies here
    for i in range(120):  # the phone gets more texts meanwhile: Twilio's list is read back a page at a time
        await sms.send(replace(claimed.message, notification_id=uuid.uuid4(), body=f"Other text {i}"))
    expired = utcnow() - timedelta(seconds=harness.settings.sending_lease + 5)
    async with harness.sessions() as session:
        await session.execute(update(Notification).where(Notification.id == nid).values(claimed_at=expired))
        await session.commit()

    await sweep(harness.ctx)  # the claim back to `created`, enqueued again (the in-process queue runs it now)
    await harness.run()

    taken = twilio.messages[0]
    assert [m.body for m in twilio.messages].count("Office closed today.") == 1
    n = await harness.get(nid)
    assert (n.status, n.provider_ref, n.unsure_since) == (S.SENDING, taken.sid, expired)
    assert twilio.lookups == 3  # pages of 50, newest first: 120 newer texts, then this one
    assert "claim expired (worker lost); sending again" in await details(harness, nid)
    assert (await details(harness, nid))[-1] == f"accepted by twilio ({taken.sid}): {FOUND}"
