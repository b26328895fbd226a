"""Fixtures for the inbound tests: the real app with Twilio settings, a fake Twilio, signed webhooks, people.

`gw` is the running gateway (real `create_app`, embedded mode: the in-process queue runs the
inbound and delivery jobs) with a fresh service that owns a unique SMS number. `gw.text(...)`
posts a webhook signed exactly as Twilio signs it (the real `twilio.request_validator`), and
`gw.settle()` waits until every queued job has run.
"""

from __future__ import annotations

import itertools
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import time as wall_time
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from gateway import keys
from gateway.app import create_app
from gateway.clock import ManualClock
from gateway.crypto import Vault
from gateway.db import (
    Case,
    CaseParticipant,
    ContactPoint,
    Conversation,
    InboundMessage,
    Notification,
    Person,
    RecordEntry,
    Service,
    StaffUser,
)
from gateway.db.base import utcnow
from gateway.jobs.queue import LocalQueue
from gateway.recipients import email_index_form
from gateway.settings import Settings
from tests.conftest import test_settings
from tests.factories import ServiceUnderTest, make_service
from tests.fakes.twilio_server import FAKE_TWILIO, FakeTwilio, make_fake_twilio

ACCOUNT = "AC" + "7a" * 16
TOKEN = "inbound-test-twilio-auth-token"
PUBLIC_URL = "https://gateway.agency.example"
WEBHOOK = "/webhooks/twilio/sms"
REPLY_DOMAIN = "reply.agency.example"
_numbers = itertools.count(1)
Client = TestClient  # type: ignore[type-arg]
ServerFactory = Callable[[web.Application], Awaitable[TestServer]]


def unique_number() -> str:
    """A service number no other test uses (the service is found by the number texted)."""
    return f"+1555{secrets.randbelow(900) + 100}{next(_numbers):04d}"


def sign(params: dict[str, str], url: str = PUBLIC_URL + WEBHOOK, token: str = TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def sms_form(to: str, from_: str, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
    """The fields Twilio posts for an inbound SMS."""
    sid = sid or "SM" + secrets.token_hex(16)
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": from_,
        "ApiVersion": "2010-04-01",
        **extra,
    }


@dataclass
class Gateway:
    """The running app, its service, and helpers to talk to it and look inside."""

    client: Client
    service: ServiceUnderTest
    number: str
    vault: Vault

    @property
    def settings(self) -> Settings:
        return self.client.app[keys.SETTINGS]

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.client.app[keys.SESSIONS]

    async def post_form(self, form: dict[str, str], signature: str | None = "sign") -> ClientResponse:
        headers = {} if signature is None else {"X-Twilio-Signature": sign(form) if signature == "sign" else signature}
        return await self.client.post(WEBHOOK, data=form, headers=headers)

    async def text(self, from_: str, body: str, **extra: str) -> ClientResponse:
        response = await self.post_form(sms_form(self.number, from_, body, **extra))
        assert response.status == 200, await response.text()
        return response

    async def settle(self) -> None:
        queue = self.client.app[keys.QUEUE]
        assert isinstance(queue, LocalQueue)
        await queue.join()

    async def inbound(self) -> list[InboundMessage]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(InboundMessage)
                .where(InboundMessage.service_id == self.service.id)
                .order_by(InboundMessage.received_at)
            )
            return list(rows)

    async def notifications(self) -> list[Notification]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Notification).where(Notification.service_id == self.service.id).order_by(Notification.created_at)
            )
            return list(rows)

    async def record(self, case_id: uuid.UUID) -> list[RecordEntry]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(RecordEntry).where(RecordEntry.case_id == case_id).order_by(RecordEntry.seq)
            )
            return list(rows)

    async def conversations(self) -> list[Conversation]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Conversation).where(Conversation.service_id == self.service.id))
            return list(rows)

    async def update_service(self, **values: Any) -> None:
        async with self.sessions() as session:
            await session.execute(update(Service).where(Service.id == self.service.id).values(**values))
            await session.commit()


@dataclass(frozen=True)
class Enrolled:
    """A person on a case: their ids, phone and email."""

    person_id: uuid.UUID
    case_id: uuid.UUID
    case_ref: str
    staff_id: uuid.UUID | None
    phone: str
    email: str | None


async def add_person(
    gw: Gateway,
    phone: str,
    *,
    email: str | None = None,
    language: str = "en",
    staff: bool = True,
    out_of_office: str | None = None,
    role: str = "client",
    staff_roles: tuple[str, ...] = ("officer",),
) -> Enrolled:
    """A client with a phone (and email) contact point and an open case, assigned to a new officer."""
    vault = gw.vault
    async with gw.sessions() as session:
        person = Person(service_id=gw.service.id, display_name="Jordan Client", language=language)
        session.add(person)
        await session.flush()
        session.add(
            ContactPoint(
                service_id=gw.service.id,
                person_id=person.id,
                kind="phone",
                value_enc=vault.seal(phone),
                value_index=vault.blind_index(phone),
            )
        )
        if email:
            session.add(
                ContactPoint(
                    service_id=gw.service.id,
                    person_id=person.id,
                    kind="email",
                    value_enc=vault.seal(email),
                    value_index=vault.blind_index(email_index_form(email)),
                )
            )
        officer = None
        if staff:
            officer = StaffUser(
                service_id=gw.service.id,
                email=f"officer.{secrets.token_hex(4)}@agency.example.org",
                name="Olive Officer",
                roles=list(staff_roles),
                out_of_office=out_of_office,
            )
            session.add(officer)
            await session.flush()
        ref = f"CASE-{secrets.token_hex(4)}"
        case = Case(service_id=gw.service.id, external_ref=ref, assigned_staff_id=officer.id if officer else None)
        session.add(case)
        await session.flush()
        session.add(CaseParticipant(case_id=case.id, person_id=person.id, role=role))
        await session.commit()
        return Enrolled(person.id, case.id, ref, officer.id if officer else None, phone, email)


@pytest.fixture
async def fake_twilio(aiohttp_server: ServerFactory) -> tuple[FakeTwilio, str]:
    app = make_fake_twilio(account_sid=ACCOUNT, auth_token=TOKEN)
    server = await aiohttp_server(app)
    return app[FAKE_TWILIO], str(server.make_url("")).rstrip("/")


def inbound_settings(database_url: str, twilio_base: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_api_base": twilio_base,
        "sweep_interval_seconds": 3600.0,
        "job_timeout_seconds": 30.0,
    }
    values.update(overrides)
    return test_settings(database_url, **values)


GatewayFactory = Callable[..., Awaitable[Gateway]]


@pytest.fixture
async def make_gateway(
    aiohttp_client: Any,
    database_url: str,
    fake_twilio: tuple[FakeTwilio, str],
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> GatewayFactory:
    """Start the real app with these setting overrides, for a new service with its own SMS number."""

    async def make(**overrides: Any) -> Gateway:
        service = await make_service(sessions, vault)
        number = unique_number()
        async with sessions() as session:
            await session.execute(
                update(Service)
                .where(Service.id == service.id)
                .values(
                    sms_sender=number,
                    email_from="Parole Office <office@agency.example.org>",
                    email_reply_domain=REPLY_DOMAIN,
                    sms_per_second=1000,
                )
            )
            await session.commit()
        clock = overrides.pop("clock", None)
        client = await aiohttp_client(
            create_app(inbound_settings(database_url, fake_twilio[1], **overrides), clock=clock)
        )
        return Gateway(client, service, number, vault)

    return make


def clock_at(hour: int) -> ManualClock:
    """A clock at `hour`:00 New York time today (the zone of the tests' 202 numbers): quiet hours in the
    recipient's zone hold the gateway's own texts (auto-replies) from 21:00 to 08:00 there."""
    today = utcnow().astimezone(ZoneInfo("America/New_York")).date()
    return ManualClock(datetime.combine(today, wall_time(hour), tzinfo=ZoneInfo("America/New_York")))


@pytest.fixture
async def gw(make_gateway: GatewayFactory) -> Gateway:
    return await make_gateway()


EMPTY_TWIML_TEXT = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def bearer(service: ServiceUnderTest) -> dict[str, str]:
    """Notify's auth header: a JWT signed with the live key's secret."""
    token = jwt.encode({"iss": str(service.id), "iat": int(time.time())}, service.secret(service.live_key), "HS256")
    return {"Authorization": f"Bearer {token}"}


SMS_TEMPLATE = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"


async def send_sms(gw: Gateway, to: str, message: str = "Reminder: office visit Tuesday 9:30") -> uuid.UUID:
    """Send through the public API, as an agency system would."""
    body = {"phone_number": to, "template_id": SMS_TEMPLATE, "personalisation": {"message": message}}
    response = await gw.client.post("/v2/notifications/sms", json=body, headers=bearer(gw.service))
    assert response.status == 201, await response.text()
    return uuid.UUID((await response.json())["id"])
