"""The quick start's demo data, beside the demo service (`gateway demo`); safe to run again.

* a staff account (officer and admin) with a new generated password on every run: a password
  cannot be shown twice, so a second run prints a fresh one and keeps the authenticator;
* Jordan Rivera, a client with a phone, on case CASE-1001 assigned to that officer, with three
  appointments in the coming days (`gateway.appointments.demo`);
* one text message to Jordan and one reply from Jordan, through the real paths: the message is
  written as the send path writes it (delivered by the sandbox channel once `gateway serve`
  runs), the reply is stored as the Twilio webhook stores one and run through the handler chain,
  so the inbox has a conversation to open.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.api.intake import insert_notifications
from gateway.appointments.demo import seed_demo_appointments
from gateway.clock import SYSTEM_CLOCK
from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Notification, Person, Service, StaffUser
from gateway.domain import Channel, ContactKind, KeyType, ParticipantRole
from gateway.inbound.pipeline import InboundDeps, run_pipeline
from gateway.inbound.store import Arrival, store_inbound
from gateway.outbound import prepare_notification
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import shared_renderer
from gateway.web.passwords import Passwords

STAFF_EMAIL = "officer@demo.gateway.example"
STAFF_NAME = "Dana Demo (officer)"
PERSON_NAME = "Jordan Rivera"
PERSON_PHONE = "+12025550143"
CASE_REF = "CASE-1001"
FREE_TEXT_TEMPLATE = uuid.UUID("91b96cb2-3bb9-4806-8eb8-cd401aba9c55")
FIRST_MESSAGE = "Hi Jordan, this is your supervision office. Reply to this number if you need to reach your officer."
FIRST_REPLY = "Thanks. Can we move Thursday's check-in to the afternoon?"
DEMO_KEY = "demo-jordan-welcome"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    person_id: uuid.UUID


async def _staff(db: AsyncSession, settings: Settings, service_id: uuid.UUID) -> tuple[StaffUser, str]:
    password = "-".join(secrets.token_urlsafe(6) for _ in range(3))
    password_hash = await Passwords.from_settings(settings).hash(password)
    user = await db.scalar(select(StaffUser).where(StaffUser.email == STAFF_EMAIL))
    if user is None:
        user = StaffUser(service_id=service_id, email=STAFF_EMAIL, name=STAFF_NAME, roles=["officer", "admin"])
        db.add(user)
    user.password_hash, user.failed_logins, user.locked_until, user.active = password_hash, 0, None, True
    await db.flush()
    return user, password


async def _person(db: AsyncSession, vault: Vault, service_id: uuid.UUID) -> Person:
    point = await db.scalar(
        select(ContactPoint).where(
            ContactPoint.service_id == service_id,
            ContactPoint.kind == ContactKind.PHONE.value,
            ContactPoint.value_index == vault.blind_index(PERSON_PHONE),
        )
    )
    person = await db.get(Person, point.person_id) if point else None
    if person is None:
        person = Person(service_id=service_id, display_name=PERSON_NAME, preferred_channels=["sms"])
        db.add(person)
        await db.flush()
        db.add(
            ContactPoint(
                service_id=service_id,
                person_id=person.id,
                kind=ContactKind.PHONE.value,
                value_enc=vault.seal(PERSON_PHONE),
                value_index=vault.blind_index(PERSON_PHONE),
                label="mobile",
            )
        )
    return person


async def _case(db: AsyncSession, service_id: uuid.UUID, person: Person, officer: StaffUser) -> Case:
    case = await db.scalar(select(Case).where(Case.service_id == service_id, Case.external_ref == CASE_REF))
    if case is None:
        case = Case(service_id=service_id, external_ref=CASE_REF, assigned_staff_id=officer.id)
        db.add(case)
        await db.flush()
    if case.assigned_staff_id is None:
        case.assigned_staff_id = officer.id
    role = ParticipantRole.CLIENT.value
    if not await db.scalar(
        select(CaseParticipant.id).where(
            CaseParticipant.case_id == case.id, CaseParticipant.person_id == person.id, CaseParticipant.role == role
        )
    ):
        db.add(CaseParticipant(case_id=case.id, person_id=person.id, role=role))
    return case


async def _messages(
    settings: Settings,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
    service_id: uuid.UUID,
    person_id: uuid.UUID,
    case_id: uuid.UUID,
) -> None:
    async with sessions() as db:
        sent = await db.scalar(
            select(Notification.id).where(
                Notification.service_id == service_id, Notification.idempotency_key == DEMO_KEY
            )
        )
    template = await TemplateStore(sessions).get(service_id, FREE_TEXT_TEMPLATE)
    if sent is None and template is not None:
        prepared = prepare_notification(
            vault=vault,
            renderer=shared_renderer(),
            template=template,
            channel=Channel.SMS,
            recipient=PERSON_PHONE,
            personalisation={"message": FIRST_MESSAGE},
            service_id=service_id,
            key_type=KeyType.LIVE,
            idempotency_key=DEMO_KEY,
            person_id=person_id,
            case_id=case_id,
        )
        async with engine.begin() as conn:
            await insert_notifications(conn, [prepared.row])
    arrival = Arrival(service_id, Channel.SMS, "sandbox-demo-jordan-1", PERSON_PHONE, "sandbox", FIRST_REPLY)
    inbound_id, created = await store_inbound(engine, vault, arrival)
    if created:  # no queue outside `gateway serve`: run the handler chain here, as the job would
        await run_pipeline(InboundDeps(settings, sessions, vault, shared_renderer(), None, None), inbound_id)


async def seed_demo(
    settings: Settings, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], service_id: uuid.UUID
) -> DemoLogin:
    """Create or refresh the demo staff login, Jordan, the case and the first messages."""
    vault = Vault(settings.secret)
    async with sessions() as db:
        officer, password = await _staff(db, settings, service_id)
        person = await _person(db, vault, service_id)
        case = await _case(db, service_id, person, officer)
        await db.commit()
        ids = (person.id, case.id)
    await _messages(settings, engine, sessions, vault, service_id, *ids)
    async with sessions() as db:
        zone = await db.scalar(select(Service.timezone).where(Service.id == service_id))
    # reminders the hook plans are found by the scheduler when `gateway serve` runs
    await seed_demo_appointments(sessions, vault, service_id, CASE_REF, zone or "UTC", SYSTEM_CLOCK.now())
    return DemoLogin(STAFF_EMAIL, password, ids[0])
