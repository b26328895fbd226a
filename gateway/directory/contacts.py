"""Contact points: normalise a value by kind, seal and blind-index it, find people by it, add, retire, change.

* A phone number is normalised to E.164 (`gateway.recipients`) and must be able to receive text
  messages: a landline, toll-free or pager number is refused ("not a mobile"). An email address is
  checked by email-validator. A postal address is its lines, stripped, 1 to 6 of them.
* The value is stored sealed (`Vault.seal`) and found by blind index in the form the inbound
  `identify` handler looks up: the E.164 number, the whole email address lower-cased, the address
  lines lower-cased and joined by newlines.
* A point is never deleted. A changed or removed number is *retired* (`retired_at`, `retired_reason`):
  it still identifies its person when they reply from it, and history still shows it, but it is
  never sent to again (`gateway.sendtime.policy.unsendable`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import CaseParticipant, ContactPoint, Person
from gateway.db.base import utcnow
from gateway.domain import ContactKind, RecordKind
from gateway.recipients import DEFAULT_REGION, InvalidRecipient, email_index_form, normalise_email, phone_and_type
from gateway.record import append_in_session

MAX_ADDRESS_LINES = 6
KIND_WORDS = {
    ContactKind.PHONE: "Phone number",
    ContactKind.EMAIL: "Email address",
    ContactKind.ADDRESS: "Postal address",
}
NOT_A_MOBILE = "Not a mobile number: text messages cannot be sent to it"
_TEXTABLE = frozenset(
    {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        # a number phonenumbers cannot place (some new ranges) is given the benefit of the doubt
        phonenumbers.PhoneNumberType.UNKNOWN,
    }
)


def normalise_mobile(raw: str, region: str = DEFAULT_REGION) -> str:
    """E.164 of a number that can receive text messages; InvalidRecipient saying why otherwise."""
    e164, kind = phone_and_type(raw, region)
    if kind not in _TEXTABLE:
        raise InvalidRecipient(NOT_A_MOBILE)
    return e164


def normalise_address(lines: Sequence[str]) -> str:
    """A postal address as its non-blank lines joined by newlines; InvalidRecipient if empty or too long."""
    kept = [" ".join(line.split()) for line in lines if line and line.strip()]
    if not kept:
        raise InvalidRecipient("An address needs at least one line")
    if len(kept) > MAX_ADDRESS_LINES:
        raise InvalidRecipient(f"An address has at most {MAX_ADDRESS_LINES} lines")
    if any(len(line) > 255 for line in kept):
        raise InvalidRecipient("An address line has at most 255 characters")
    return "\n".join(kept)


def normalise_contact(kind: ContactKind, raw: str | Sequence[str], region: str = DEFAULT_REGION) -> str:
    """The stored form of a contact value of `kind`; InvalidRecipient with the reason otherwise."""
    if kind is ContactKind.ADDRESS:
        return normalise_address([raw] if isinstance(raw, str) else raw)
    if not isinstance(raw, str):
        raise InvalidRecipient("Must be text")
    return normalise_mobile(raw, region) if kind is ContactKind.PHONE else normalise_email(raw)


def index_form(kind: ContactKind, value: str) -> str:
    """What the blind index is computed over: the form inbound matching looks up."""
    if kind is ContactKind.EMAIL:
        return email_index_form(value)
    return value.lower() if kind is ContactKind.ADDRESS else value


def contact_index(vault: Vault, kind: ContactKind, value: str) -> str:
    """The blind index of a normalised value (`normalise_contact`)."""
    return vault.blind_index(index_form(kind, value))


def contact_row(
    vault: Vault, service_id: uuid.UUID, person_id: uuid.UUID, kind: ContactKind, value: str, label: str | None = None
) -> dict[str, Any]:
    """A new contact point as a row for a Core insert (the import writes many at once)."""
    return {
        "id": uuid.uuid4(),
        "service_id": service_id,
        "person_id": person_id,
        "kind": kind.value,
        "value_enc": vault.seal(value),
        "value_index": contact_index(vault, kind, value),
        "label": label,
        "created_at": utcnow(),
        "retired_at": None,
        "retired_reason": None,
    }


async def find_people_by_contact(
    session: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    kind: ContactKind,
    value: str,
    *,
    include_retired: bool = False,
) -> list[Person]:
    """People of the service with this (normalised) contact value: a duplicate check before adding one.

    Retired points and retired people are left out unless `include_retired`."""
    points = select(ContactPoint.person_id).where(
        ContactPoint.service_id == service_id,
        ContactPoint.kind == kind.value,
        ContactPoint.value_index == contact_index(vault, kind, value),
    )
    stmt = select(Person).where(Person.service_id == service_id).order_by(Person.created_at, Person.id)
    if not include_retired:
        points = points.where(ContactPoint.retired_at.is_(None))
        stmt = stmt.where(Person.retired_at.is_(None))
    return list((await session.scalars(stmt.where(Person.id.in_(points)))).all())


async def active_points(session: AsyncSession, person_id: uuid.UUID) -> list[ContactPoint]:
    """A person's contact points that are not retired, oldest first."""
    stmt = (
        select(ContactPoint)
        .where(ContactPoint.person_id == person_id, ContactPoint.retired_at.is_(None))
        .order_by(ContactPoint.created_at, ContactPoint.id)
    )
    return list((await session.scalars(stmt)).all())


async def add_contact_point(
    session: AsyncSession, vault: Vault, person: Person, kind: ContactKind, value: str, label: str | None = None
) -> ContactPoint:
    """Give `person` the (normalised) contact value; the existing active point if they have it already."""
    index = contact_index(vault, kind, value)
    for point in await active_points(session, person.id):
        if point.kind == kind.value and point.value_index == index:
            return point
    point = ContactPoint(**contact_row(vault, person.service_id, person.id, kind, value, label))
    session.add(point)
    await session.flush()
    return point


async def retire_contact_point(session: AsyncSession, point: ContactPoint, reason: str) -> bool:
    """Retire a point (kept, never sent to again); False when it already was."""
    if point.retired_at is not None:
        return False
    result = await session.execute(
        update(ContactPoint)
        .where(ContactPoint.id == point.id, ContactPoint.retired_at.is_(None))
        .values(retired_at=utcnow(), retired_reason=reason[:64])
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


async def person_case_ids(session: AsyncSession, person_id: uuid.UUID) -> list[uuid.UUID]:
    """The cases a person takes part in (any role), each once."""
    rows = await session.scalars(
        select(CaseParticipant.case_id).where(CaseParticipant.person_id == person_id).distinct()
    )
    return sorted(rows.all())


async def change_contact_point(
    session: AsyncSession, vault: Vault, person: Person, old: ContactPoint, new_value: str, actor: str
) -> ContactPoint:
    """A changed number or address: retire `old`, add `new_value` (normalised), and write a
    "number changed" line on each of the person's cases. The line names the kind, never the values."""
    kind = ContactKind(old.kind)
    if old.person_id != person.id:
        raise ValueError("the contact point belongs to someone else")
    if contact_index(vault, kind, new_value) == old.value_index and old.retired_at is None:
        return old
    await retire_contact_point(session, old, "changed")
    point = await add_contact_point(session, vault, person, kind, new_value, old.label)
    for case_id in await person_case_ids(session, person.id):
        await append_in_session(
            session,
            case_id,
            RecordKind.DETAILS,
            actor,
            f"{KIND_WORDS[kind]} changed for {person.display_name}; the old one is kept, retired",
            {"person_id": str(person.id), "kind": kind.value, "retired": str(old.id), "added": str(point.id)},
        )
    return point
