"""deliver_notification through both queue backends: real twilio package -> fake Twilio, aiosmtpd, sandbox."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select

from gateway.db import Case, OptOut, RecordEntry
from gateway.db.base import utcnow
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.jobs.delivery import deliver_notification
from gateway.jobs.outcome import claim
from gateway.record import verify_chain
from gateway.reply_address import parse_reply_address
from tests.factories import ServiceUnderTest
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio_server import FakeTwilio, Fault
from tests.jobs.conftest import EMAIL_FROM, PUBLIC_URL, REPLY_DOMAIN, SMS_FROM, Harness, add_notification

S = NotificationStatus
TO = "+12025550143"


async def test_sms_is_sent_through_twilio(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO, message="Office visit Tue 9:30")
    await harness.deliver(nid)
    await harness.run()

    [sent] = fake_twilio[0].messages
    assert (sent.to, sent.from_, sent.body) == (TO, SMS_FROM, "Office visit Tue 9:30")
    assert sent.status_callback == PUBLIC_URL + "/webhooks/twilio/status"
    n = await harness.get(nid)
    assert (n.status, n.provider, n.provider_ref, n.attempts) == (S.SENDING, "twilio", sent.sid, 1)
    assert n.sent_at is not None and n.claimed_at is not None and n.completed_at is None
    assert await harness.events(nid) == ["created", "sending", "sending"]


async def test_email_is_sent_over_smtp_with_a_reply_address(
    harness: Harness, sender_service: ServiceUnderTest, smtp: FakeSmtpServer
) -> None:
    nid = await add_notification(harness, sender_service.id, Channel.EMAIL, "jordan@example.org", message="Room 4")
    await harness.deliver(nid)
    await harness.run()

    [mail] = smtp.messages
    assert mail.rcpt_tos == ["jordan@example.org"]
    assert mail.message["From"] == EMAIL_FROM and mail.message["Subject"] == "Your appointment"
    assert mail.message.get_content().strip() == "Room 4"
    reply_to = str(mail.message["Reply-To"])
    assert reply_to.endswith("@" + REPLY_DOMAIN)
    assert parse_reply_address(harness.ctx["vault"], reply_to) == nid
    n = await harness.get(nid)
    assert (n.status, n.provider, n.provider_ref) == (S.SENT, "smtp", mail.message["Message-ID"])


async def test_retryable_failures_back_off_and_the_send_succeeds(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    twilio = fake_twilio[0]
    twilio.script([Fault.http(500), Fault.too_many(retry_after=0.4), Fault.hang(seconds=3)])
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    await harness.deliver(nid)
    started = asyncio.get_running_loop().time()
    await harness.run()

    assert twilio.requests == 4
    assert twilio.lookups == 1  # the timeout got no answer: Twilio was asked first whether it took the message
    [sent] = twilio.messages
    n = await harness.get(nid)
    # 5xx, 429 and a timeout are the provider's fault, not the message's: they use none of its attempts
    # (three of them stay below GATEWAY_BREAKER_FAILURES, so the sender was never paused)
    assert (n.status, n.provider_ref, n.attempts, n.failure_reason) == (S.SENDING, sent.sid, 1, None)
    assert n.held_for is None and n.waiting_since is not None
    assert await harness.events(nid) == ["created"] + ["sending", "created"] * 3 + ["sending", "sending"]
    # the 429's Retry-After (0.4 s) and the 0.5 s Twilio timeout were both waited out
    assert asyncio.get_running_loop().time() - started >= 0.9


async def test_retries_stop_at_the_limit(
    harness: Harness, sender_service: ServiceUnderTest, smtp: FakeSmtpServer
) -> None:
    # 450 to RCPT is about this recipient (mailbox busy): each one uses an attempt
    smtp.script("RCPT", *["450 4.2.1 Mailbox busy"] * harness.settings.delivery_max_attempts)
    nid = await add_notification(harness, sender_service.id, Channel.EMAIL, "casey@example.org")
    await harness.deliver(nid)
    await harness.run()

    n = await harness.get(nid)
    assert (n.status, n.attempts) == (S.TEMPORARY_FAILURE, harness.settings.delivery_max_attempts)
    assert n.failure_reason is not None and n.failure_reason.startswith("450")
    assert smtp.messages == []


async def test_provider_failures_never_use_up_a_messages_attempts(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    # twice as many 503s as the message has attempts: the sender pauses, probes, and sends it when Twilio is back
    failures = 2 * harness.settings.delivery_max_attempts
    fake_twilio[0].script([Fault.http(503)] * failures)
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    await harness.deliver(nid)
    await harness.run()

    n = await harness.get(nid)
    [sent] = fake_twilio[0].messages
    assert (n.status, n.attempts, n.provider_ref, n.failure_reason) == (S.SENDING, 1, sent.sid, None)
    assert fake_twilio[0].requests == failures + 1
    assert await harness.ctx["breaker"].status() == []  # closed again


async def test_invalid_number_fails_permanently_at_once(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    fake_twilio[0].script([Fault.error(21211, message=f"The 'To' number {TO} is not a valid phone number.")])
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    await harness.deliver(nid)
    await harness.run()

    n = await harness.get(nid)
    assert (n.status, n.attempts) == (S.PERMANENT_FAILURE, 1)
    assert n.failure_reason == "21211: The 'To' number <recipient> is not a valid phone number."
    assert n.completed_at is not None
    assert fake_twilio[0].requests == 1


async def test_smtp_server_down_then_back(
    harness: Harness, sender_service: ServiceUnderTest, smtp: FakeSmtpServer
) -> None:
    await smtp.stop()
    nid = await add_notification(harness, sender_service.id, Channel.EMAIL, "casey@example.org")
    await harness.deliver(nid)
    running = asyncio.create_task(harness.run())
    for _ in range(200):  # until the first try has failed (a refused connection: it uses no attempt)
        if (await harness.get(nid)).waiting_since is not None:
            break
        await asyncio.sleep(0.01)
    await smtp.start()
    await running

    n = await harness.get(nid)
    assert n.status == S.SENT and n.attempts == 1
    assert [m.rcpt_tos for m in smtp.messages] == [["casey@example.org"]]


async def test_opted_out_recipient_is_not_sent_to(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    vault = harness.ctx["vault"]
    other = "+12025550188"
    async with harness.sessions() as session:
        session.add(
            OptOut(
                service_id=sender_service.id,
                channel="sms",
                address_index=vault.blind_index(TO),
                sender="",
                source="test",
            )
        )
        # an opt-out from another sender number does not cover ours
        session.add(
            OptOut(
                service_id=sender_service.id,
                channel="sms",
                address_index=vault.blind_index(other),
                sender="+15005550001",
                source="test",
            )
        )
        await session.commit()
    blocked = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    allowed = await add_notification(harness, sender_service.id, Channel.SMS, other)
    await harness.deliver(blocked, allowed)
    await harness.run()

    n = await harness.get(blocked)
    assert (n.status, n.failure_reason, n.attempts) == (S.PERMANENT_FAILURE, "recipient opted out", 0)
    assert [m.to for m in fake_twilio[0].messages] == [other]


async def test_test_key_uses_the_sandbox(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str], smtp: FakeSmtpServer
) -> None:
    sms = await add_notification(harness, sender_service.id, Channel.SMS, TO, key_type=KeyType.TEST)
    mail = await add_notification(harness, sender_service.id, Channel.EMAIL, "a@example.org", key_type=KeyType.TEST)
    await harness.deliver(sms, mail)
    await harness.run()

    for nid in (sms, mail):
        n = await harness.get(nid)
        assert (n.status, n.provider) == (S.DELIVERED, "sandbox") and n.completed_at is not None
    assert fake_twilio[0].requests == 0 and smtp.connections == 0


async def test_two_jobs_for_one_notification_send_once(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    fake_twilio[0].delay = 0.05
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    results = await asyncio.gather(*(deliver_notification(harness.ctx, str(nid)) for _ in range(3)))

    assert len(fake_twilio[0].messages) == 1
    assert sorted(results).count("sending") == 1
    assert (await harness.get(nid)).attempts == 1
    assert await deliver_notification(harness.ctx, str(nid)) == "skipped: sending"  # and later runs do nothing


async def test_case_record_gets_the_outcome_without_contact_details(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    async with harness.sessions() as session:
        case = Case(service_id=sender_service.id, external_ref=f"CR-{uuid.uuid4().hex[:8]}")
        session.add(case)
        await session.commit()
    fake_twilio[0].script([Fault.error(21211)])
    failed = await add_notification(harness, sender_service.id, Channel.SMS, TO, case_id=case.id)
    sent = await add_notification(harness, sender_service.id, Channel.SMS, TO, case_id=case.id, message="Secret body")
    await harness.deliver(failed)
    await harness.run()
    await harness.deliver(sent)
    await harness.run()

    async with harness.sessions() as session:
        entries = (await session.scalars(select(RecordEntry).where(RecordEntry.case_id == case.id))).all()
        assert (await verify_chain(session, case.id)).ok
    assert [(e.kind, e.notification_id, e.data["status"]) for e in entries] == [
        ("status", failed, "permanent-failure"),
        ("outbound", sent, "sending"),
    ]
    assert entries[0].data["code"] == "21211"
    assert entries[1].data["provider_ref"] == fake_twilio[0].messages[0].sid
    text = " ".join(f"{e.summary} {e.data}" for e in entries)
    assert TO not in text and "Secret body" not in text


async def test_claim_is_one_conditional_update(harness: Harness, sender_service: ServiceUnderTest) -> None:
    nid = await add_notification(harness, sender_service.id, Channel.SMS, TO)
    async with harness.sessions() as session:
        assert await claim(session, nid) == 1
    async with harness.sessions() as session:
        assert await claim(session, nid) is None  # already `sending`
    not_due = await add_notification(
        harness, sender_service.id, Channel.SMS, TO, next_attempt_at=utcnow() + timedelta(minutes=5)
    )
    async with harness.sessions() as session:
        assert await claim(session, not_due) is None  # a retry waits for its time
    assert (await harness.get(not_due)).attempts == 0
