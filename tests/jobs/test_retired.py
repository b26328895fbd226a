"""The delivery job never sends to a retired person or to a retired (changed) number; the rule is
`gateway.sendtime.policy.unsendable`, applied with the opt-outs in the batch's policy step."""

from __future__ import annotations

from sqlalchemy import select

from gateway.db import ContactPoint, Person
from gateway.directory.contacts import change_contact_point
from gateway.directory.people import retire_person, upsert_person
from gateway.domain import Channel, NotificationStatus
from tests.factories import ServiceUnderTest
from tests.fakes.twilio_server import FakeTwilio
from tests.jobs.conftest import Harness, add_notification

S = NotificationStatus
OLD, NEW, OTHER = "+12025550143", "+12025550144", "+12025550145"


async def test_retired_people_and_numbers_are_refused_with_the_reason(
    harness: Harness, sender_service: ServiceUnderTest, fake_twilio: tuple[FakeTwilio, str]
) -> None:
    vault, service_id = harness.ctx["vault"], sender_service.id
    body = {"first_name": "Jordan", "last_name": "Rivera", "phone_numbers": [OLD]}
    async with harness.sessions() as db:
        changing, _ = await upsert_person(db, vault, service_id, "P-changed", body, "test")
        leaving, _ = await upsert_person(db, vault, service_id, "P-leaving", {**body, "phone_numbers": [OTHER]}, "t")
        old = await db.scalar(select(ContactPoint).where(ContactPoint.person_id == changing.id))
        assert old is not None
        await change_contact_point(db, vault, changing, old, NEW, "test")
        await retire_person(db, service_id, "P-leaving", "test")
        await db.commit()
        assert (await db.get(Person, leaving.id)) is not None
    to_old = await add_notification(harness, service_id, Channel.SMS, OLD)
    to_new = await add_notification(harness, service_id, Channel.SMS, NEW, person_id=changing.id)
    to_retired = await add_notification(harness, service_id, Channel.SMS, OTHER)
    for_retired = await add_notification(harness, service_id, Channel.SMS, "+12025550146", person_id=leaving.id)
    await harness.deliver(to_old, to_new, to_retired, for_retired)
    await harness.run()

    assert [m.to for m in fake_twilio[0].messages] == [NEW]
    for nid in (to_old, to_retired, for_retired):
        n = await harness.get(nid)
        assert (n.status, n.failure_reason, n.attempts) == (S.PERMANENT_FAILURE, "recipient retired", 0)
