"""Each audience resolves to the right people on their preferred channel, with who is left out and why."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.broadcasts.audience import NO_CONTACT, RETIRED, AudienceKind, resolve_directory
from gateway.crypto import Vault
from gateway.domain import Channel
from tests.broadcasts.directory import add_client, add_staff, book
from tests.factories import ServiceUnderTest, make_service

BOTH = frozenset({Channel.SMS, Channel.EMAIL})


async def _resolve(sessions, vault, service_id, kind, value, channels=BOTH, zone="America/New_York"):  # type: ignore[no-untyped-def]
    async with sessions() as db:
        return await resolve_directory(db, vault, service_id, zone, kind, value, channels)


async def test_caseload_office_program_tag(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    olive_id = await add_staff(sessions, service.id, "Olive")
    pat_id = await add_staff(sessions, service.id, "Pat")
    ana = await add_client(
        sessions, vault, service.id, "Ana Alvarez", assigned=olive_id, office="North", program="T4C", tags=["veterans"]
    )
    ben = await add_client(sessions, vault, service.id, "Ben Brown", assigned=olive_id, office="South", tags=["Jobs"])
    cy = await add_client(sessions, vault, service.id, "Cy Chen", assigned=pat_id, office="North", program="T4C")
    await add_client(sessions, vault, service.id, "Dee Closed", assigned=olive_id, office="North", status="closed")
    await add_client(sessions, vault, service.id, "Eve Victim", assigned=olive_id, office="North", role="victim")
    other = await make_service(sessions, vault)
    await add_client(sessions, vault, other.id, "Fay Elsewhere", office="North", program="T4C", tags=["veterans"])

    def names(resolved):  # type: ignore[no-untyped-def]
        return sorted(r.label for r in resolved.recipients)

    assert names(await _resolve(sessions, vault, service.id, AudienceKind.CASELOAD, str(olive_id))) == [
        "Ana Alvarez",
        "Ben Brown",
    ]
    assert names(await _resolve(sessions, vault, service.id, AudienceKind.CASELOAD, str(pat_id))) == ["Cy Chen"]
    assert names(await _resolve(sessions, vault, service.id, AudienceKind.OFFICE, "North")) == [
        "Ana Alvarez",
        "Cy Chen",
    ]
    assert names(await _resolve(sessions, vault, service.id, AudienceKind.PROGRAM, "T4C")) == ["Ana Alvarez", "Cy Chen"]
    assert names(await _resolve(sessions, vault, service.id, AudienceKind.TAG, "jobs")) == ["Ben Brown"]
    resolved = await _resolve(sessions, vault, service.id, AudienceKind.OFFICE, "North")
    first = next(r for r in resolved.recipients if r.person_id == ana.person_id)
    assert (first.channel, first.address, first.case_id) == (Channel.SMS, ana.phone, ana.case_id)
    assert first.values["first_name"] == "Ana" and first.values["office"] == "North"
    assert cy.person_id in {r.person_id for r in resolved.recipients}
    assert ben.person_id not in {r.person_id for r in resolved.recipients}


async def test_channel_from_preferences_and_who_is_left_out(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    email_first = await add_client(
        sessions, vault, service.id, "Gil Email", email=True, preferred=["email", "sms"], office="West"
    )
    sms_only = await add_client(sessions, vault, service.id, "Hal Text", email=True, preferred=["sms"], office="West")
    no_pref = await add_client(sessions, vault, service.id, "Ivy Default", email=True, office="West")
    email_only_person = await add_client(
        sessions, vault, service.id, "Jo Mail", phone=False, email=True, preferred=["sms"], office="West"
    )
    await add_client(sessions, vault, service.id, "Kit Nothing", phone=False, office="West")
    await add_client(sessions, vault, service.id, "Lou Retired", retired=True, office="West")
    resolved = await _resolve(sessions, vault, service.id, AudienceKind.OFFICE, "West")
    channel = {r.person_id: (r.channel, r.address) for r in resolved.recipients}
    assert channel[email_first.person_id] == (Channel.EMAIL, email_first.email)
    assert channel[sms_only.person_id] == (Channel.SMS, sms_only.phone)
    assert channel[no_pref.person_id] == (Channel.SMS, no_pref.phone)
    assert channel[email_only_person.person_id] == (Channel.EMAIL, email_only_person.email)
    assert sorted((o.label, o.reason) for o in resolved.left_out) == [
        ("Kit Nothing", NO_CONTACT),
        ("Lou Retired", RETIRED),
    ]
    # an SMS-only template: the email-only person has no usable contact point for it
    sms = await _resolve(sessions, vault, service.id, AudienceKind.OFFICE, "West", frozenset({Channel.SMS}))
    assert ("Jo Mail", NO_CONTACT) in {(o.label, o.reason) for o in sms.left_out}
    assert {r.channel for r in sms.recipients} == {Channel.SMS}


async def test_everyone_with_an_appointment_on_a_day(
    sessions: async_sessionmaker[AsyncSession], vault: Vault, service: ServiceUnderTest
) -> None:
    early = await add_client(sessions, vault, service.id, "May Morning")
    late = await add_client(sessions, vault, service.id, "Ned Night")
    next_day = await add_client(sessions, vault, service.id, "Oz Tomorrow")
    cancelled = await add_client(sessions, vault, service.id, "Pia Cancelled")
    # 2030-03-04 in New York is 05:00 UTC that day to 05:00 UTC the next
    await book(sessions, early, service.id, datetime(2030, 3, 4, 13, 0, tzinfo=UTC))
    await book(sessions, late, service.id, datetime(2030, 3, 5, 3, 30, tzinfo=UTC))  # 22:30 on the 4th, local
    await book(sessions, next_day, service.id, datetime(2030, 3, 5, 5, 0, tzinfo=UTC))  # midnight of the 5th
    await book(sessions, cancelled, service.id, datetime(2030, 3, 4, 15, 0, tzinfo=UTC), status="cancelled")
    resolved = await _resolve(sessions, vault, service.id, AudienceKind.APPOINTMENTS, "2030-03-04")
    assert sorted(r.label for r in resolved.recipients) == ["May Morning", "Ned Night"]
