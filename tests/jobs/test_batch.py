"""deliver_batch: many notifications per job, each ending exactly as the single-notification job would end it.

Runs on both queue backends (the rows a batch defers become `deliver_notification` jobs on that queue)
and both databases, with the real twilio package against the fake Twilio. Where a test needs Twilio's
answers in a known order it sets GATEWAY_DELIVERY_CONCURRENCY=1, so a batch's sends go one at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.db import Case, OptOut, RecordEntry
from gateway.db.base import padded
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.delivery import DeliveryBatcher, deliver_batch, deliver_notification
from gateway.record import verify_chain
from gateway.sendtime.ratelimit import LocalRateLimiter, RateLimiter
from gateway.settings import Settings
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio, Fault
from tests.jobs.conftest import Harness, add_notification, set_service

S = NotificationStatus


def numbers(count: int) -> list[str]:
    return [f"+120255501{i:02d}" for i in range(count)]


@pytest.fixture
async def serial(settings_for: Callable[..., Settings]) -> AsyncIterator[Harness]:
    """A harness whose sends go one at a time (one send slot), so scripted Twilio answers land in order."""
    settings = settings_for(delivery_concurrency=1)
    ctx = await open_job_context(settings)
    yield Harness(settings, ctx)
    await close_job_context(ctx)


async def test_a_batch_with_mixed_outcomes(
    serial: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    h, twilio = serial, fake_twilio[0]
    invalid_to, retried_to, accepted_to, opted_out_to, test_to = numbers(5)
    async with h.sessions() as session:
        case = Case(service_id=sender_service.id, external_ref=f"CR-{uuid.uuid4().hex[:8]}")
        session.add(case)
        index = h.ctx["vault"].blind_index(opted_out_to)
        session.add(OptOut(service_id=sender_service.id, channel="sms", address_index=index, sender="", source="t"))
        await session.commit()
    invalid = await add_notification(h, sender_service.id, Channel.SMS, invalid_to, case_id=case.id)
    retried = await add_notification(h, sender_service.id, Channel.SMS, retried_to)
    accepted = await add_notification(h, sender_service.id, Channel.SMS, accepted_to, case_id=case.id)
    opted_out = await add_notification(h, sender_service.id, Channel.SMS, opted_out_to)
    test_key = await add_notification(h, sender_service.id, Channel.SMS, test_to, key_type=KeyType.TEST)
    twilio.script([Fault.error(21211, message=f"The 'To' number {invalid_to} is not valid."), Fault.http(503)])

    outcome = await deliver_batch(h.ctx, *(str(i) for i in (invalid, retried, accepted, opted_out, test_key)))

    assert outcome == "delivered=1 permanent-failure=2 retry=1 sending=1"
    n = {nid: await h.get(nid) for nid in (invalid, retried, accepted, opted_out, test_key)}
    assert (n[invalid].status, n[invalid].attempts) == (S.PERMANENT_FAILURE, 1)
    assert n[invalid].failure_reason == "21211: The 'To' number <recipient> is not valid."
    # a 503 is the provider's fault, not the message's: its attempt is given back
    assert (n[retried].status, n[retried].attempts, n[retried].failure_reason) == (S.CREATED, 0, None)
    assert n[retried].next_attempt_at is not None
    [sent] = twilio.messages
    assert (n[accepted].status, n[accepted].provider_ref, sent.to) == (S.SENDING, sent.sid, accepted_to)
    assert (n[opted_out].status, n[opted_out].attempts) == (S.PERMANENT_FAILURE, 0)
    assert n[opted_out].failure_reason == "recipient opted out"
    assert (n[test_key].status, n[test_key].provider) == (S.DELIVERED, "sandbox")
    assert twilio.requests == 3  # the opted-out and test-key messages never reached Twilio
    assert await h.events(accepted) == ["created", "sending", "sending"]
    assert await h.events(opted_out) == ["created", "permanent-failure"]
    assert await h.events(test_key) == ["created", "sending", "delivered"]

    await h.run()  # the retry went back on the queue as a single-notification job, due after its backoff

    again = await h.get(retried)
    assert (again.status, again.attempts) == (S.SENDING, 1)
    assert [m.to for m in twilio.messages] == [accepted_to, retried_to]
    assert await h.events(retried) == ["created", "sending", "created", "sending", "sending"]
    async with h.sessions() as session:
        entries = (await session.scalars(select(RecordEntry).where(RecordEntry.case_id == case.id))).all()
        assert (await verify_chain(session, case.id)).ok
    assert sorted((e.kind, e.notification_id, e.data["status"]) for e in entries) == sorted(
        [("status", invalid, "permanent-failure"), ("outbound", accepted, "sending")]
    )


async def test_two_batch_jobs_racing_for_the_same_rows_send_each_once(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    fake_twilio[0].delay = 0.05
    ids = [str(await add_notification(harness, sender_service.id, Channel.SMS, to)) for to in numbers(6)]

    results = await asyncio.gather(
        deliver_batch(harness.ctx, *ids),
        deliver_batch(harness.ctx, *reversed(ids)),
        deliver_notification(harness.ctx, ids[2]),
    )

    assert sorted(m.to for m in fake_twilio[0].messages) == numbers(6) and fake_twilio[0].requests == 6
    assert "skipped" in " ".join(results)  # the losers saw the rows claimed and left them
    for nid in ids:
        n = await harness.get(uuid.UUID(nid))
        assert (n.status, n.attempts) == (S.SENDING, 1)
        assert (await harness.events(n.id)).count("sending") == 2  # one claim, one acceptance
    assert await deliver_batch(harness.ctx, *ids) == "skipped: sending=6"  # and later runs do nothing


async def test_a_batch_short_of_rate_limit_tokens_delivers_the_rest_later(
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    await set_service(harness.sessions, sender_service.id, sms_per_second=2)
    ids = [await add_notification(harness, sender_service.id, Channel.SMS, to) for to in numbers(5)]

    outcome = await deliver_batch(harness.ctx, *(str(i) for i in ids))

    assert outcome == "rate limited=3 sending=2"  # a second's worth of tokens: two
    rows = [await harness.get(nid) for nid in ids]
    assert sorted((n.status, n.attempts) for n in rows) == [(S.CREATED, 0)] * 3 + [(S.SENDING, 1)] * 2

    await harness.run()  # the other three went back on the queue, each due when its token is

    assert sorted(m.to for m in fake_twilio[0].messages) == numbers(5)  # all sent, each once
    assert [((n := await harness.get(nid)).status, n.attempts) for nid in ids] == [(S.SENDING, 1)] * 5
    times = sorted(m.received_at for m in fake_twilio[0].messages)
    assert times[-1] - times[0] >= 1.0  # 2 at once, then one every half second


class CountingLimiter:
    """The context's real limiter, counting the send slots asked of it."""

    def __init__(self, real: RateLimiter) -> None:
        self.real, self.slots_asked = real, 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    async def schedule(self, key: str, rate: float, burst: float, count: int) -> list[float]:
        self.slots_asked += count
        return await self.real.schedule(key, rate, burst, count)


async def test_a_senders_backlog_waits_in_line_and_asks_for_one_slot_per_message(
    harness: Harness,
    sender_service: ServiceUnderTest,
    fake_twilio: tuple[FakeTwilio, str],
) -> None:
    """Two batches for one sender at 5 a second: the second batch's slots follow the first's, each row
    holds its slot (`rate_slot_at`) and takes no second one, and they go out in that order."""
    await set_service(harness.sessions, sender_service.id, sms_per_second=5)
    limiter = CountingLimiter(harness.ctx["limiter"])
    harness.ctx["limiter"] = limiter  # type: ignore[typeddict-item]
    to = numbers(20)
    ids = [await add_notification(harness, sender_service.id, Channel.SMS, number) for number in to]

    assert await deliver_batch(harness.ctx, *(str(i) for i in ids[:10])) == "rate limited=5 sending=5"
    assert await deliver_batch(harness.ctx, *(str(i) for i in ids[10:])) == "rate limited=10"

    rows = [await harness.get(nid) for nid in ids[5:]]
    slots = [n.rate_slot_at for n in rows]
    assert all(slot is not None and n.next_attempt_at == slot for n, slot in zip(rows, slots, strict=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]  # type: ignore[operator]
    assert all(0.1 <= gap <= 0.3 for gap in gaps), gaps  # one every 0.2 s, in line across both batches

    await harness.run()

    assert limiter.slots_asked == 20  # one slot per message: no deferred run asked again
    arrived = sorted(fake_twilio[0].messages, key=lambda m: m.received_at)
    assert [m.to for m in arrived[5:]] == to[5:]  # the backlog went out in its order
    assert arrived[-1].received_at - arrived[0].received_at >= 2.5  # 15 after the first 5, at 5 a second
    assert [(await harness.get(nid)).rate_slot_at for nid in ids] == [None] * 20  # slots are used at the claim


async def test_a_held_slot_is_used_but_a_lapsed_one_is_asked_for_again(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    """After an outage, rows whose slots passed long ago ask again rather than all go out at once."""
    await set_service(harness.sessions, sender_service.id, sms_per_second=1)
    now = datetime.now(UTC)
    held = [await add_notification(harness, sender_service.id, Channel.SMS, to, rate_slot_at=now) for to in numbers(2)]
    lapsed = [
        await add_notification(harness, sender_service.id, Channel.SMS, to, rate_slot_at=now - timedelta(minutes=5))
        for to in numbers(5)[2:]
    ]

    assert await deliver_batch(harness.ctx, *(str(i) for i in held)) == "sending=2"  # no tokens asked
    outcome = await deliver_batch(harness.ctx, *(str(i) for i in lapsed))
    assert outcome == "rate limited=2 sending=1"  # a second's worth (one), the others wait in line
    assert [(await harness.get(nid)).status for nid in lapsed].count(S.CREATED) == 2


async def test_a_claim_that_gets_no_send_slot_in_time_is_given_back_unsent(
    settings_for: Callable[..., Settings], sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    # one send slot, and a window of 0.5 s (half the job timeout) while each send takes 1 s; a job
    # timeout of 1 s leaves the second send's own job room to finish on a loaded machine
    settings = settings_for(delivery_concurrency=1, job_timeout_seconds=1.0, twilio_timeout=2.0)
    ctx = await open_job_context(settings)
    h = Harness(settings, ctx)
    try:
        fake_twilio[0].delay = 1.0
        first, second = [await add_notification(h, sender_service.id, Channel.SMS, to) for to in numbers(2)]

        assert await deliver_batch(ctx, str(first), str(second)) == "given back=1 sending=1"

        back = await h.get(second)
        assert (back.status, back.attempts, back.provider_ref) == (S.CREATED, 0, None)  # as if never claimed
        assert await h.events(second) == ["created", "sending", "created"]
        fake_twilio[0].delay = 0.0
        await h.run()
        sent = await h.get(second)
        assert (sent.status, sent.attempts) == (S.SENDING, 1)
        assert sorted(m.to for m in fake_twilio[0].messages) == numbers(2)
    finally:
        await close_job_context(ctx)


async def test_token_bucket_takes_what_it_has_for_a_batch() -> None:
    limiter = LocalRateLimiter()
    assert await limiter.take("sender:sms:+1", 4, 2, 5) == (2, 0.25)  # two saved up; the next in 1/4 s
    assert (await limiter.take("sender:sms:+1", 4, 2, 1))[0] == 0
    assert await limiter.take("sender:sms:+2", 4, 2, 2) == (2, 0.0)


def test_in_lists_are_padded_to_a_power_of_two() -> None:
    assert [len(padded(range(n))) for n in (0, 1, 2, 3, 5, 9, 100)] == [0, 1, 2, 4, 8, 16, 128]
    assert set(padded([1, 2, 3])) == {1, 2, 3}


class RecordingQueue:
    """A JobQueue that keeps what it is given: (function, args, job_id, when)."""

    def __init__(self) -> None:
        self.jobs: list[tuple[str, tuple[str, ...], str | None, float]] = []

    async def enqueue(
        self, function: str, *args: str, job_id: str | None = None, defer_by: float | None = None
    ) -> bool:
        self.jobs.append((function, args, job_id, asyncio.get_running_loop().time()))
        return True

    async def close(self) -> None:
        pass


async def test_the_batcher_enqueues_full_batches_at_once_and_the_rest_after_the_wait() -> None:
    queue = RecordingQueue()
    batcher = DeliveryBatcher(queue, size=3, wait=0.1)
    ids = [uuid.uuid4() for _ in range(5)]
    started = asyncio.get_running_loop().time()

    await batcher.add(ids[:2])
    assert queue.jobs == []  # not full: waits for more
    await batcher.add(ids[2:])
    assert [(f, args, job_id) for f, args, job_id, _ in queue.jobs] == [
        ("deliver_batch", tuple(str(i) for i in ids[:3]), f"deliver-batch:{ids[0]}")
    ]
    await asyncio.sleep(0.15)
    assert [args for _, args, _, _ in queue.jobs] == [tuple(str(i) for i in ids[:3]), tuple(str(i) for i in ids[3:])]
    assert queue.jobs[1][3] - started >= 0.1  # the rest went when the wait was over

    await batcher.add([uuid.uuid4()])
    await batcher.close()  # shutting down enqueues what is waiting, without waiting
    assert len(queue.jobs) == 3


async def test_the_batcher_without_a_wait_enqueues_every_commit() -> None:
    queue = RecordingQueue()
    batcher = DeliveryBatcher(queue, size=100, wait=0)
    await batcher.add([uuid.uuid4()])
    await batcher.add([uuid.uuid4(), uuid.uuid4()])
    assert [len(args) for _, args, _, _ in queue.jobs] == [1, 2]
    await batcher.close()
    assert len(queue.jobs) == 2
