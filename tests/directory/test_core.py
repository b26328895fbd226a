"""The directory's core functions on both databases: validate, upsert, no-op repeats, record lines, retire."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.db import Case, CaseParticipant, ContactPoint, Person
from gateway.directory.cases import upsert_case
from gateway.directory.contacts import (
    NOT_A_MOBILE,
    change_contact_point,
    find_people_by_contact,
    normalise_contact,
    retire_contact_point,
)
from gateway.directory.fields import FieldErrors
from gateway.directory.merge import merge_people
from gateway.directory.people import retire_person, upsert_person
from gateway.domain import ContactKind, RecordKind
from gateway.recipients import InvalidRecipient
from gateway.record import verify_chain
from tests.directory.people import add_staff, counts, entries, person_body


def test_contacts_normalise_by_kind() -> None:
    assert normalise_contact(ContactKind.PHONE, "(202) 555-0143") == "+12025550143"
    assert normalise_contact(ContactKind.EMAIL, "Jo@Example.ORG") == "Jo@example.org"
    assert normalise_contact(ContactKind.ADDRESS, [" 12  Main St ", "", "Springfield"]) == "12 Main St\nSpringfield"
    with pytest.raises(InvalidRecipient, match="Not a mobile"):
        normalise_contact(ContactKind.PHONE, "+44 20 7946 0000")  # a London landline
    with pytest.raises(InvalidRecipient, match="Not a mobile"):
        normalise_contact(ContactKind.PHONE, "+1 800 275 2273")  # toll-free


async def test_upsert_person_creates_then_a_repeat_writes_nothing(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        person, changed = await upsert_person(db, vault, service.id, "P-1", person_body(), "api:test")
        await db.commit()
    assert changed == ["created"]
    assert person.display_name == "Jo" and person.language == "es" and person.timezone == "America/Chicago"
    assert person.consent["sms"] == {"granted": True, "source": "intake-form", "at": "2026-11-02T15:00:00+00:00"}
    async with sessions() as db:
        points = (await db.scalars(select(ContactPoint).where(ContactPoint.person_id == person.id))).all()
        # sealed, and indexed in the form the inbound `identify` handler looks up
        assert {p.kind for p in points} == {"phone", "email", "address"}
        phone = next(p for p in points if p.kind == "phone")
        assert phone.value_index == vault.blind_index("+12025550143") and "2025550143" not in phone.value_enc
        email = next(p for p in points if p.kind == "email")
        assert email.value_index == vault.blind_index("jordan.rivera@example.org")
        found = await find_people_by_contact(db, vault, service.id, ContactKind.PHONE, "+12025550143")
        assert [p.id for p in found] == [person.id]
    async with sessions() as db:
        again, changed = await upsert_person(db, vault, service.id, "P-1", person_body(), "api:test")
        await db.commit()
    assert changed == [] and again.updated_at == person.updated_at
    assert await counts(sessions, service.id) == (1, 3)


async def test_a_change_writes_one_entry_per_case_naming_fields_never_values(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        person, _ = await upsert_person(db, vault, service.id, "P-2", person_body(), "api:test")
        await upsert_case(db, service.id, "C-2a", {"client": "P-2"}, "api:test")
        await upsert_case(db, service.id, "C-2b", {"client": "P-2"}, "api:test")
        await db.commit()
    body = person_body(phone_numbers=["202-555-0199"], last_name="Rivera-Cruz")
    async with sessions() as db:
        _, changed = await upsert_person(db, vault, service.id, "P-2", body, "api:test")
        await db.commit()
        cases = (await db.scalars(select(Case).where(Case.service_id == service.id))).all()
        old = await db.scalar(
            select(ContactPoint).where(
                ContactPoint.person_id == person.id, ContactPoint.value_index == vault.blind_index("+12025550143")
            )
        )
    assert changed == ["last_name", "phone_numbers"]
    assert old is not None and old.retired_at is not None and old.retired_reason == "removed"  # kept, retired
    for case in cases:
        record = await entries(sessions, case.id)
        assert [e.kind for e in record] == [RecordKind.DETAILS, RecordKind.DETAILS]
        assert record[-1].summary == "Details of Jo changed: last name, phone numbers"
        assert record[-1].data["fields"] == ["last_name", "phone_numbers"]
        assert "2025550" not in record[-1].summary + str(record[-1].data)
        async with sessions() as db:
            assert (await verify_chain(db, case.id)).ok


async def test_every_bad_field_is_named_and_nothing_is_stored(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    body = person_body(
        first_name="",
        language="fr",
        timezone="Mars/Olympus",
        phone_numbers=["+44 20 7946 0000", "12"],
        email_addresses=["not-an-email"],
        consent={"sms": {"granted": "yes", "source": "telepathy", "at": "soon"}},
    )
    async with sessions() as db:
        with pytest.raises(FieldErrors) as caught:
            await upsert_person(db, vault, service.id, "P-3", body, "api:test")
    assert caught.value.errors == {
        "first_name": "is required",
        "language": "'fr' is not a language the gateway has templates in (en, es)",
        "timezone": "'Mars/Olympus' is not a time zone name such as America/Chicago",
        "phone_numbers[0]": NOT_A_MOBILE,
        "phone_numbers[1]": "Not enough digits",
        "email_addresses": "Not a valid email address",
        "consent.sms.granted": "must be true or false",
        "consent.sms.source": "'telepathy' is not one of intake-form, verbal, written, keyword",
        "consent.sms.at": "'soon' is not a date and time such as 2026-01-31T09:30:00Z",
    }
    assert await counts(sessions, service.id) == (0, 0)


async def test_change_contact_point_retires_the_old_and_records_without_values(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        person, _ = await upsert_person(db, vault, service.id, "P-4", person_body(), "api:test")
        case, _ = await upsert_case(db, service.id, "C-4", {"client": "P-4"}, "api:test")
        await db.commit()
    async with sessions() as db:
        person = await db.get(Person, person.id)
        phone = ContactPoint.kind == ContactKind.PHONE.value
        old = await db.scalar(select(ContactPoint).where(ContactPoint.person_id == person.id, phone))
        new = await change_contact_point(db, vault, person, old, "+12025550177", "staff:someone")
        await db.commit()
        assert old.retired_at is not None and old.retired_reason == "changed"
        assert vault.open(new.value_enc) == "+12025550177"
        # the old number still finds the person when asked to include retired points (replies resolve)
        assert await find_people_by_contact(db, vault, service.id, ContactKind.PHONE, "+12025550143") == []
        found = await find_people_by_contact(
            db, vault, service.id, ContactKind.PHONE, "+12025550143", include_retired=True
        )
        assert [p.id for p in found] == [person.id]
        assert await retire_contact_point(db, old, "changed") is False
    record = await entries(sessions, case.id)
    assert record[-1].summary == "Phone number changed for Jo; the old one is kept, retired"
    assert "2025550" not in record[-1].summary + str(record[-1].data)


async def test_retire_person_is_recorded_once(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        await upsert_person(db, vault, service.id, "P-5", person_body(), "api:test")
        case, _ = await upsert_case(db, service.id, "C-5", {"client": "P-5"}, "api:test")
        await db.commit()
    async with sessions() as db:
        retired = await retire_person(db, service.id, "P-5", "api:test")
        await db.commit()
        assert retired is not None and retired[1] is True and retired[0].retired_at is not None
        again = await retire_person(db, service.id, "P-5", "api:test")
        assert again is not None and again[1] is False
        assert await retire_person(db, service.id, "nobody", "api:test") is None
    assert [e.summary for e in await entries(sessions, case.id)][-1].startswith("Jo retired")
    # a PUT brings them back
    async with sessions() as db:
        person, changed = await upsert_person(db, vault, service.id, "P-5", person_body(), "api:test")
        await db.commit()
    assert changed == ["reinstated"] and person.retired_at is None


async def test_upsert_case_resolves_names_and_records_a_transfer(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    ada = await add_staff(sessions, service.id, "Ada Officer")
    ben = await add_staff(sessions, service.id, "Ben Officer")
    async with sessions() as db:
        await upsert_person(db, vault, service.id, "P-6", person_body(), "api:test")
        fields = {"client": "P-6", "assigned_to": ada.email.upper(), "program": "CBT", "tags": ["cohort-7"]}
        case, changed = await upsert_case(db, service.id, "C-6", fields, "api:test")
        await db.commit()
    assert changed == ["created"] and case.assigned_staff_id == ada.id and case.tags == ["cohort-7"]
    async with sessions() as db:
        client = await db.scalar(select(CaseParticipant).where(CaseParticipant.case_id == case.id))
        assert client is not None and client.role == "client"
        _, changed = await upsert_case(db, service.id, "C-6", {**fields, "assigned_to": ada.email}, "api:test")
        assert changed == []
        _, changed = await upsert_case(
            db, service.id, "C-6", {**fields, "assigned_to": ben.email, "status": "closed"}, "api:test"
        )
        await db.commit()
        case = await db.get(Case, case.id, populate_existing=True)
    assert changed == ["assigned_to", "status"]
    assert case is not None and case.closed_at is not None
    record = await entries(sessions, case.id)
    assert [e.summary for e in record] == [
        "Case C-6 opened for Jo, assigned to Ada Officer",
        "Case details changed: status",
        "Case transferred from Ada Officer to Ben Officer",
    ]
    assert record[-1].kind == RecordKind.ASSIGNMENT


async def test_upsert_case_names_unknown_people_and_staff(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    gone = await add_staff(sessions, service.id, "Cy Gone", active=False)
    async with sessions() as db:
        with pytest.raises(FieldErrors) as caught:
            await upsert_case(
                db, service.id, "C-7", {"client": "nobody", "assigned_to": gone.email, "status": "pending"}, "t"
            )
    assert caught.value.errors == {
        "status": "'pending' is not one of open, closed",
    }
    async with sessions() as db:
        with pytest.raises(FieldErrors) as caught:
            await upsert_case(db, service.id, "C-7", {"client": "nobody", "assigned_to": gone.email}, "t")
    assert caught.value.errors == {
        "client": "no person with external id 'nobody' in this service",
        "assigned_to": f"no active member of staff with email {gone.email!r} in this service",
    }


async def test_a_merged_duplicate_is_never_written_again_by_a_sync(sessions, vault, service) -> None:  # type: ignore[no-untyped-def]
    async with sessions() as db:
        keep, _ = await upsert_person(db, vault, service.id, "P-KEEP", person_body(), "api:test")
        body = person_body(
            phone_numbers=["202-555-0177"], email_addresses=None, postal_address=None, preferred_channels=["sms"]
        )
        dup, _ = await upsert_person(db, vault, service.id, "P-DUP", body, "api:test")
        await db.commit()
    await merge_people(sessions, service.id, keep.id, dup.id, "staff:test")
    # the nightly sync still lists the duplicate: it is refused by name, and nothing comes back
    async with sessions() as db:
        with pytest.raises(FieldErrors) as refused:
            await upsert_person(db, vault, service.id, "P-DUP", body, "api:test")
        await db.rollback()
    assert "merged into another person" in refused.value.errors["external_id"]
    async with sessions() as db:
        stored = await db.get(Person, dup.id)
        assert stored is not None and stored.retired_at is not None and stored.merged_into_id == keep.id
        found = await find_people_by_contact(db, vault, service.id, ContactKind.PHONE, "+12025550177")
        assert [p.id for p in found] == [keep.id]
