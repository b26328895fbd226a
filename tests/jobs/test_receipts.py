"""Delivery receipts: Twilio's status webhook, what it does to a notification, and the service's callback.

The real app (`create_app`, embedded mode: its in-process queue runs the delivery, `apply_sms_status`
and `send_delivery_receipt` jobs) sends through the real `twilio` package to the fake Twilio, so each
notification reaches `sending` with a real provider reference. Status callbacks are then posted as
Twilio posts them: a form signed by the real `twilio.request_validator` over the gateway's PUBLIC URL.
The service's receipt callback goes to a real receiver app (`aiohttp_server`). SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from twilio.request_validator import RequestValidator

from gateway import keys
from gateway.api.present import timestamp
from gateway.app import create_app
from gateway.channels import SendResult
from gateway.db import Case, NotificationEvent, RecordEntry, Service
from gateway.domain import Channel, NotificationStatus
from gateway.jobs.outcome import claim, record_sent
from gateway.jobs.queue import LocalQueue
from gateway.record import verify_chain
from gateway.webhooks.twilio_status import STATUS_PATH
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio, Fault
from tests.jobs.conftest import (
    ACCOUNT,
    PUBLIC_URL,
    SMS_FROM,
    SMS_TEMPLATE,
    TOKEN,
    Harness,
    add_notification,
    bearer,
    job_settings,
)

S = NotificationStatus
TO = "+12025550143"
CALLBACK_TOKEN = "receipt-token-" + "r" * 16
Client = TestClient[web.Request, web.Application]
ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def status_form(sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
    """The fields Twilio posts to a StatusCallback (as the fake Twilio sends them)."""
    # fmt: off
    form = {
        "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "From": SMS_FROM, "MessageSid": sid,
        "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": TO,
    }
    # fmt: on
    if error_code:
        form["ErrorCode"] = error_code
    return form


def sign(form: dict[str, str], *, url: str = PUBLIC_URL + STATUS_PATH, token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, form))


@dataclass
class Gateway:
    """The running app, its job context as a `Harness`, the fake Twilio, and a service that sends SMS."""

    client: Client
    harness: Harness
    twilio: FakeTwilio
    service: ServiceUnderTest

    async def settle(self) -> None:
        """Wait until the app's in-process queue has run every job (retries included)."""
        queue = self.client.app[keys.QUEUE]
        assert isinstance(queue, LocalQueue)
        await queue.join()

    async def sent_sms(self, **fields: Any) -> tuple[uuid.UUID, str]:
        """A notification sent through the real delivery job to the fake Twilio: (id, Twilio SID)."""
        nid = await add_notification(self.harness, self.service.id, Channel.SMS, TO, **fields)
        await self.harness.deliver(nid)
        await self.settle()
        n = await self.harness.get(nid)
        assert n.status == S.SENDING and n.provider == "twilio" and n.provider_ref
        return nid, n.provider_ref

    async def post_status(
        self, sid: str, status: str, error_code: str | None = None, *, signature: str | None = "valid"
    ) -> ClientResponse:
        """POST a status callback; `signature="valid"` signs it as Twilio does, None sends none."""
        form = status_form(sid, status, error_code)
        headers = {}
        if signature is not None:
            headers["X-Twilio-Signature"] = sign(form) if signature == "valid" else signature
        return await self.client.post(STATUS_PATH, data=form, headers=headers)

    async def events(self, nid: uuid.UUID) -> list[str]:
        return await self.harness.events(nid)


@pytest.fixture
async def gw(
    aiohttp_client: Callable[..., Awaitable[Client]],
    database_url: str,
    fake_twilio: tuple[FakeTwilio, str],
    sender_service: ServiceUnderTest,
) -> Gateway:
    settings = job_settings(database_url, fake_twilio[1], 2525, smtp_host=None)
    assert settings.base_url == PUBLIC_URL and settings.redis_url is None
    client = await aiohttp_client(create_app(settings))
    harness = Harness(settings, client.app[keys.JOB_CONTEXT])
    return Gateway(client, harness, fake_twilio[0], sender_service)


@dataclass
class Receiver:
    """A service's callback endpoint: records every request and answers the scripted statuses, then 200."""

    answers: deque[int] = field(default_factory=deque)
    received: list[tuple[str | None, dict[str, Any], int]] = field(default_factory=list)  # auth, body, answered

    async def handle(self, request: web.Request) -> web.Response:
        status = self.answers.popleft() if self.answers else 200
        self.received.append((request.headers.get("Authorization"), await request.json(), status))
        return web.json_response({}, status=status)


@pytest.fixture
async def receiver(gw: Gateway, aiohttp_server: ServerFactory) -> Receiver:
    """A receiver app, set as the service's callback URL with a sealed bearer token."""
    made = Receiver()
    app = web.Application()
    app.router.add_post("/receipts", made.handle)
    server = await aiohttp_server(app)
    vault = gw.harness.ctx["vault"]
    async with gw.harness.sessions() as session:
        await session.execute(
            update(Service)
            .where(Service.id == gw.service.id)
            .values(callback_url=str(server.make_url("/receipts")), callback_token_enc=vault.seal(CALLBACK_TOKEN))
        )
        await session.commit()
    return made


async def test_delivered_callback_completes_the_notification(gw: Gateway) -> None:
    nid, sid = await gw.sent_sms()
    response = await gw.post_status(sid, "delivered")
    assert response.status == 200

    n = await gw.harness.get(nid)
    assert (n.status, n.failure_reason) == (S.DELIVERED, None)
    assert n.completed_at is not None and n.sent_at is not None and n.completed_at >= n.sent_at
    assert await gw.events(nid) == ["created", "sending", "sending", "delivered"]
    got = await gw.client.get(f"/v2/notifications/{nid}", headers=bearer(gw.service))
    assert (await got.json())["status"] == "delivered"


async def test_forged_unsigned_and_wrongly_addressed_callbacks_are_refused(gw: Gateway) -> None:
    nid, sid = await gw.sent_sms()
    before = await gw.events(nid)
    form = status_form(sid, "delivered")

    forged = await gw.post_status(sid, "delivered", signature=sign(form, token="not-the-auth-token"))
    unsigned = await gw.post_status(sid, "delivered", signature=None)
    internal = await gw.post_status(sid, "delivered", signature=sign(form, url=str(gw.client.make_url(STATUS_PATH))))
    # a genuine signature for another status must not carry this one
    tampered = await gw.post_status(sid, "delivered", signature=sign(status_form(sid, "sent")))
    assert [r.status for r in (forged, unsigned, internal, tampered)] == [403, 403, 403, 403]

    await gw.settle()
    n = await gw.harness.get(nid)
    assert (n.status, n.completed_at) == (S.SENDING, None)
    assert await gw.events(nid) == before


async def test_duplicate_and_out_of_order_callbacks_change_nothing(gw: Gateway) -> None:
    nid, sid = await gw.sent_sms()
    assert (await gw.post_status(sid, "sent")).status == 200  # interim: still sending
    assert (await gw.harness.get(nid)).status == S.SENDING
    assert (await gw.post_status(sid, "delivered")).status == 200
    completed = (await gw.harness.get(nid)).completed_at

    later = [("delivered", None), ("sent", None), ("undelivered", "30003"), ("failed", "30005")]
    answers = [await gw.post_status(sid, status, code) for status, code in later]
    assert [a.status for a in answers] == [200] * len(later)  # acknowledged, so Twilio stops retrying
    await gw.settle()

    n = await gw.harness.get(nid)
    assert (n.status, n.completed_at, n.failure_reason) == (S.DELIVERED, completed, None)
    assert (await gw.events(nid)).count("delivered") == 1
    assert (await gw.events(nid))[-1] == "delivered"


async def test_concurrent_conflicting_callbacks_leave_one_final_status(gw: Gateway, receiver: Receiver) -> None:
    """Twilio retries and reorders: five copies of two different final statuses at once; one wins, once."""
    nid, sid = await gw.sent_sms()
    calls = [gw.post_status(sid, "delivered") for _ in range(5)] + [
        gw.post_status(sid, "undelivered", "30003") for _ in range(5)
    ]
    answers = await asyncio.gather(*calls)
    assert [a.status for a in answers] == [200] * 10
    await gw.settle()

    n = await gw.harness.get(nid)
    assert n.status in (S.DELIVERED, S.TEMPORARY_FAILURE)
    events = await gw.events(nid)
    assert events[:3] == ["created", "sending", "sending"] and events[3:] == [n.status]
    assert [body["status"] for _, body, _ in receiver.received] == [n.status]


@pytest.mark.parametrize(
    ("twilio_status", "code", "expected"),
    [
        ("failed", "30005", S.PERMANENT_FAILURE),  # unknown handset: the number is bad
        ("undelivered", "30003", S.TEMPORARY_FAILURE),  # handset off: may work later
        ("undelivered", "30006", S.PERMANENT_FAILURE),  # landline
        ("failed", "30008", S.TEMPORARY_FAILURE),  # unknown error: may work later
    ],
)
async def test_failure_callbacks_keep_twilios_error_code(
    gw: Gateway, twilio_status: str, code: str, expected: NotificationStatus
) -> None:
    nid, sid = await gw.sent_sms()
    assert (await gw.post_status(sid, twilio_status, code)).status == 200

    n = await gw.harness.get(nid)
    assert n.status == expected and n.completed_at is not None
    assert n.failure_reason is not None and code in n.failure_reason and TO not in n.failure_reason
    assert (await gw.events(nid))[-1] == expected


async def test_callback_that_beats_the_provider_reference_is_applied_by_the_retry_job(gw: Gateway) -> None:
    """Twilio can call back before the delivery job has committed the SID it was just given."""
    nid = await add_notification(gw.harness, gw.service.id, Channel.SMS, TO)
    async with gw.harness.sessions() as session:
        attempt = await claim(session, nid)  # the job has claimed the row and is talking to Twilio
    assert attempt == 1
    sid = "SM" + secrets.token_hex(16)

    response = await gw.post_status(sid, "delivered")  # ... and the receipt arrives first
    assert response.status == 200
    n = await gw.harness.get(nid)
    assert (n.status, n.provider_ref) == (S.SENDING, None)

    result = SendResult("twilio", sid, S.SENDING)
    assert await record_sent(gw.harness.ctx, n, attempt, result)  # the job commits the reference
    assert (await gw.harness.get(nid)).status == S.SENDING
    await asyncio.wait_for(gw.settle(), 30)  # `apply_sms_status` tries again

    n = await gw.harness.get(nid)
    assert (n.status, n.provider_ref) == (S.DELIVERED, sid) and n.completed_at is not None
    assert await gw.events(nid) == ["created", "sending", "sending", "delivered"]


async def test_callback_for_an_unknown_message_is_acknowledged_and_changes_nothing(gw: Gateway) -> None:
    nid, _ = await gw.sent_sms()
    async with gw.harness.sessions() as session:
        before = await session.scalar(select(NotificationEvent.id).order_by(NotificationEvent.id.desc()).limit(1))
    assert (await gw.post_status("SM" + "0" * 32, "delivered")).status == 200  # Twilio must not retry
    assert (await gw.harness.get(nid)).status == S.SENDING
    async with gw.harness.sessions() as session:
        after = await session.scalar(select(NotificationEvent.id).order_by(NotificationEvent.id.desc()).limit(1))
    assert after == before


async def test_status_change_is_written_to_the_case_record_without_contact_details(gw: Gateway) -> None:
    async with gw.harness.sessions() as session:
        case = Case(service_id=gw.service.id, external_ref=f"CR-{uuid.uuid4().hex[:8]}")
        session.add(case)
        await session.commit()
    body = "Hearing moved to 3 March, courtroom 4"
    nid, sid = await gw.sent_sms(case_id=case.id, message=body)
    assert (await gw.post_status(sid, "delivered")).status == 200
    assert (await gw.post_status(sid, "delivered")).status == 200  # a duplicate adds no entry
    await gw.settle()

    async with gw.harness.sessions() as session:
        entries = (
            await session.scalars(select(RecordEntry).where(RecordEntry.case_id == case.id).order_by(RecordEntry.seq))
        ).all()
        assert (await verify_chain(session, case.id)).ok
    assert [(e.kind, e.notification_id, e.data.get("status")) for e in entries] == [
        ("outbound", nid, "sending"),
        ("status", nid, "delivered"),
    ]
    text = " ".join(f"{e.summary} {e.data}" for e in entries)
    assert TO not in text and TO.removeprefix("+") not in text and "courtroom" not in text


async def test_final_status_is_posted_to_the_services_callback_url(gw: Gateway, receiver: Receiver) -> None:
    answer = await gw.client.post(
        "/v2/notifications/sms",
        json={
            "phone_number": TO,
            "template_id": str(SMS_TEMPLATE),
            "personalisation": {"message": "Your appointment is at 10:00"},
            "reference": "cms-ref-7781",
        },
        headers=bearer(gw.service),
    )
    assert answer.status == 201
    nid = uuid.UUID((await answer.json())["id"])
    await gw.settle()
    sid = (await gw.harness.get(nid)).provider_ref
    assert sid is not None
    assert receiver.received == []  # `sending` is not final: no receipt yet

    assert (await gw.post_status(sid, "delivered")).status == 200
    await gw.settle()

    n = await gw.harness.get(nid)
    [(auth, body, answered)] = receiver.received
    assert auth == f"Bearer {CALLBACK_TOKEN}" and answered == 200
    assert body == {
        "id": str(nid),
        "reference": "cms-ref-7781",
        "to": TO,
        "status": "delivered",
        "created_at": timestamp(n.created_at),
        "completed_at": timestamp(n.completed_at),
        "sent_at": timestamp(n.sent_at),
        "notification_type": "sms",
        "template_id": str(SMS_TEMPLATE),
        "template_version": n.template_version,
    }
    assert body["completed_at"] is not None and body["sent_at"] is not None
    api = await (await gw.client.get(f"/v2/notifications/{nid}", headers=bearer(gw.service))).json()
    assert {k: body[k] for k in ("created_at", "completed_at", "sent_at")} == {
        k: api[k] for k in ("created_at", "completed_at", "sent_at")
    }

    assert (await gw.post_status(sid, "delivered")).status == 200  # a duplicate receipt is not passed on
    await gw.settle()
    assert len(receiver.received) == 1


async def test_failure_receipt_is_posted_too(gw: Gateway, receiver: Receiver) -> None:
    nid, sid = await gw.sent_sms()
    assert (await gw.post_status(sid, "undelivered", "30003")).status == 200
    await gw.settle()
    [(_, body, _)] = receiver.received
    assert (body["id"], body["status"], body["reference"]) == (str(nid), "temporary-failure", None)


async def test_receipt_is_retried_after_a_server_error_and_delivered_once(gw: Gateway, receiver: Receiver) -> None:
    receiver.answers.extend([500, 503])
    nid, sid = await gw.sent_sms()
    assert (await gw.post_status(sid, "delivered")).status == 200
    await asyncio.wait_for(gw.settle(), 30)

    assert [answered for _, _, answered in receiver.received] == [500, 503, 200]
    assert {body["id"] for _, body, _ in receiver.received} == {str(nid)}
    assert all(auth == f"Bearer {CALLBACK_TOKEN}" for auth, _, _ in receiver.received)


async def test_receipt_refused_with_a_client_error_is_not_retried(gw: Gateway, receiver: Receiver) -> None:
    receiver.answers.append(400)
    _, sid = await gw.sent_sms()
    assert (await gw.post_status(sid, "delivered")).status == 200
    await asyncio.wait_for(gw.settle(), 30)
    await asyncio.sleep(3 * gw.harness.settings.retry_backoff_max_seconds)  # longer than any retry would wait

    assert [answered for _, _, answered in receiver.received] == [400]


async def test_failure_at_send_time_is_posted_too(gw: Gateway, receiver: Receiver) -> None:
    """A final status the delivery job sets itself (Twilio refused the number) is a receipt as well."""
    gw.twilio.script([Fault.error(21211)])
    nid = await add_notification(gw.harness, gw.service.id, Channel.SMS, TO)
    await gw.harness.deliver(nid)
    await gw.settle()
    assert (await gw.harness.get(nid)).status == S.PERMANENT_FAILURE
    assert [(body["id"], body["status"]) for _, body, _ in receiver.received] == [(str(nid), "permanent-failure")]


async def test_sweeper_timeout_is_posted_as_a_receipt_too(gw: Gateway, receiver: Receiver) -> None:
    """A message whose receipt never came becomes temporary-failure by the sweeper, and the service hears of it."""
    from datetime import timedelta

    from sqlalchemy import update

    from gateway.db import Notification
    from gateway.db.base import utcnow
    from gateway.jobs.sweeper import sweep

    nid, _ = await gw.sent_sms()
    long_ago = utcnow() - timedelta(seconds=gw.harness.settings.sending_timeout_seconds + 60)
    async with gw.harness.sessions() as session:
        await session.execute(update(Notification).where(Notification.id == nid).values(sent_at=long_ago))
        await session.commit()
    await sweep(gw.harness.ctx)
    await gw.settle()
    assert (await gw.harness.get(nid)).status == S.TEMPORARY_FAILURE
    assert [(body["id"], body["status"]) for _, body, _ in receiver.received] == [(str(nid), "temporary-failure")]
