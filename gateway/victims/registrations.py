"""Victim registrations: a victim (a person of the VSU only), how to reach them, and the cases they follow.

`PUT /v2/victims/{external_id}` and the intake form both write through `upsert_registration`:
the person part goes through the directory's `upsert_person` (contact points sealed and blind
indexed as everyone's), the rest is the registration row and its followed cases. Each followed
case (offender service id + its case reference) gets a case of the VSU's own (`vsu_case`), with
the victim as its victim participant: that case holds the victim's record, notices and replies,
inside the VSU. Whole-resource PUT: cases not listed any more are no longer followed.

Rules beyond the person's own fields:
* `channels`: sms, email, voice, letter in order; each needs its contact (voice and sms a phone).
* an address-confidential victim needs a `substitute_address`, and is never sent a letter to any
  other address (`letter_address`).
* `cases`: 1 to 20, each of a service the unit follows (`gateway.victims.links`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.db import Case, CaseParticipant, ContactPoint, Person, StaffUser, VictimFollowedCase, VictimRegistration
from gateway.db.base import utcnow
from gateway.directory.contacts import normalise_contact
from gateway.directory.fields import FieldErrors
from gateway.directory.people import find_by_external_id, upsert_person
from gateway.domain import ContactKind, ParticipantRole
from gateway.recipients import DEFAULT_REGION, InvalidRecipient
from gateway.victim_access import VICTIM_DATA_ROLES
from gateway.victims.kinds import check_events
from gateway.victims.links import followed

PERSON_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "language",
    "timezone",
    "phone_numbers",
    "email_addresses",
    "postal_address",
    "consent",
)
OWN_FIELDS = ("channels", "events", "address_confidential", "substitute_address", "cases", "advocate")
FIELDS = frozenset((*PERSON_FIELDS, *OWN_FIELDS))
CHANNELS = ("sms", "email", "voice", "letter")
NEEDS = {"sms": "phone_numbers", "voice": "phone_numbers", "email": "email_addresses"}
MAX_CASES = 20


@dataclass(frozen=True)
class FollowInput:
    service_id: uuid.UUID
    reference: str
    offender_name: str


@dataclass(frozen=True)
class RegistrationInput:
    channels: list[str]
    events: list[str]
    confidential: bool
    substitute: str | None
    cases: list[FollowInput]
    advocate: str | None


def vsu_case_ref(service_id: uuid.UUID, reference: str) -> str:
    """The VSU's own case for an offender case: the reference, and which service it belongs to."""
    return f"{reference}@{service_id.hex[:8]}"


def _check_cases(raw: Any, follows: Mapping[uuid.UUID, str], errors: dict[str, str]) -> list[FollowInput]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_CASES:
        errors["cases"] = f"must be a list of 1 to {MAX_CASES} cases, each {{service_id, reference, offender_name}}"
        return []
    out: list[FollowInput] = []
    for i, item in enumerate(raw):
        name = f"cases[{i}]"
        if not isinstance(item, dict) or set(item) - {"service_id", "reference", "offender_name"}:
            errors[name] = "must be an object with service_id, reference and offender_name only"
            continue
        try:
            service_id = uuid.UUID(str(item.get("service_id")))
        except ValueError:
            errors[f"{name}.service_id"] = "must be a service id"
            continue
        if service_id not in follows:
            errors[f"{name}.service_id"] = "is not a service this unit follows (ask the operator to link them)"
            continue
        reference, offender = item.get("reference"), item.get("offender_name")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 100 or reference != reference.strip():
            errors[f"{name}.reference"] = "must be 1 to 100 characters, without spaces at either end"
            continue
        if not isinstance(offender, str) or not 1 <= len(offender.strip()) <= 128:
            errors[f"{name}.offender_name"] = "must be 1 to 128 characters"
            continue
        follow = FollowInput(service_id, reference, " ".join(offender.split()))
        if any(f.service_id == service_id and f.reference == reference for f in out):
            errors[name] = "is listed twice"
            continue
        out.append(follow)
    return out


def validate_registration(
    raw: Mapping[str, Any], follows: Mapping[uuid.UUID, str], region: str = DEFAULT_REGION
) -> RegistrationInput:
    """Check the registration's own fields (the person's are checked by the directory); FieldErrors."""
    errors: dict[str, str] = {}
    channels = raw.get("channels")
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
        errors["channels"] = f"must be a non-empty list of {', '.join(CHANNELS)} in order of preference"
        channels = []
    elif bad := [c for c in channels if c not in CHANNELS]:
        errors["channels"] = f"has {', '.join(bad)}: use {', '.join(CHANNELS)}"
    elif len(set(channels)) != len(channels):
        errors["channels"] = "lists a channel twice"
    events = check_events(raw.get("events"))
    if isinstance(events, str):
        errors["events"] = events
        events = []
    confidential = raw.get("address_confidential", False)
    if not isinstance(confidential, bool):
        errors["address_confidential"] = "must be true or false"
        confidential = False
    substitute = None
    if raw.get("substitute_address") is not None:
        lines = raw["substitute_address"]
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            errors["substitute_address"] = "must be a list of address lines"
        else:
            try:
                substitute = normalise_contact(ContactKind.ADDRESS, lines)
            except InvalidRecipient as exc:
                errors["substitute_address"] = str(exc)
    if confidential and substitute is None and "substitute_address" not in errors:
        errors["substitute_address"] = "is required when address_confidential is true (the only address printed)"
    for channel in channels:
        needed = NEEDS.get(channel)
        if needed and not raw.get(needed):
            errors.setdefault("channels", f"{channel} is listed but no {needed} given")
    if "letter" in channels and not raw.get("postal_address") and substitute is None:
        errors.setdefault("channels", "letter is listed but no postal_address (or substitute_address) given")
    cases = _check_cases(raw.get("cases"), follows, errors)
    advocate = raw.get("advocate")
    if advocate is not None and (not isinstance(advocate, str) or not 3 <= len(advocate) <= 255):
        errors["advocate"] = "must be the email of a member of staff of this unit"
    if errors:
        raise FieldErrors(errors)
    return RegistrationInput(list(channels), list(events), confidential, substitute, cases, advocate)


async def _advocate_id(session: AsyncSession, service_id: uuid.UUID, email: str | None) -> uuid.UUID | None:
    if email is None:
        return None
    staff = await session.scalar(
        select(StaffUser).where(StaffUser.service_id == service_id, StaffUser.email == email.strip().lower())
    )
    if staff is None or not staff.active or not any(r in VICTIM_DATA_ROLES for r in staff.roles):
        raise FieldErrors({"advocate": "is not an active victim advocate, supervisor or admin of this unit"})
    return staff.id


async def vsu_case(
    session: AsyncSession, service_id: uuid.UUID, follow: FollowInput, advocate: uuid.UUID | None
) -> Case:
    """The VSU's own case for a followed offender case (made on first use)."""
    ref = vsu_case_ref(follow.service_id, follow.reference)
    case = await session.scalar(select(Case).where(Case.service_id == service_id, Case.external_ref == ref))
    if case is None:
        case = Case(service_id=service_id, external_ref=ref, status="open")
        session.add(case)
        await session.flush()
    if advocate is not None and case.assigned_staff_id is None:
        case.assigned_staff_id = advocate
    return case


async def upsert_registration(
    session: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    external_id: str,
    raw: Mapping[str, Any],
    actor: str,
    *,
    region: str = DEFAULT_REGION,
) -> tuple[VictimRegistration, Person, list[str]]:
    """Create or update a registration in the caller's transaction: (registration, person, changed)."""
    follows = await followed(session, service_id)
    errors: dict[str, str] = {}
    reg_input: RegistrationInput | None = None
    try:
        reg_input = validate_registration(raw, follows, region)
    except FieldErrors as exc:
        errors.update(exc.errors)
    person_fields = {k: raw[k] for k in PERSON_FIELDS if k in raw}
    given = raw.get("channels")
    channels: list[Any] = given if isinstance(given, list) else []
    person_fields["preferred_channels"] = [c for c in channels if c in ("sms", "email", "letter")]
    if reg_input is not None and reg_input.confidential:
        person_fields["preferred_channels"] = [c for c in person_fields["preferred_channels"] if c != "letter"]
    try:
        person, person_changed = await upsert_person(
            session, vault, service_id, external_id, person_fields, actor, region=region
        )
    except FieldErrors as exc:
        errors = {**exc.errors, **errors}
        raise FieldErrors(errors) from None
    if errors or reg_input is None:
        raise FieldErrors(errors)
    advocate = await _advocate_id(session, service_id, reg_input.advocate)
    reg = await session.scalar(select(VictimRegistration).where(VictimRegistration.person_id == person.id))
    # preferred_channels follows `channels` (said once, as channels)
    changed = [] if person_changed == ["created"] else [c for c in person_changed if c != "preferred_channels"]
    now = utcnow()
    created = reg is None
    if reg is None:
        reg = VictimRegistration(service_id=service_id, person_id=person.id, created_at=now)
        session.add(reg)
    substitute_same = (
        reg.substitute_address_enc is not None
        and reg_input.substitute is not None
        and vault.open(reg.substitute_address_enc) == reg_input.substitute
    ) or (reg.substitute_address_enc is None and reg_input.substitute is None)
    values = {
        "channels": reg_input.channels,
        "events": reg_input.events,
        "confidential": reg_input.confidential,
        "language": person.language,
        "consent": dict(person.consent or {}),
        "status": "active",
    }
    for name, value in values.items():
        if created or getattr(reg, name) != value:
            setattr(reg, name, value)
            changed.append(name)
    if not substitute_same:
        reg.substitute_address_enc = vault.seal(reg_input.substitute) if reg_input.substitute else None
        changed.append("substitute_address")
    await session.flush()
    changed += await _write_cases(session, service_id, reg, person, reg_input.cases, advocate)
    if changed:
        reg.updated_at = now
        reg.unregistered_at = None
    return reg, person, ["created"] if created else sorted(set(changed))


async def _write_cases(
    session: AsyncSession,
    service_id: uuid.UUID,
    reg: VictimRegistration,
    person: Person,
    wanted: list[FollowInput],
    advocate: uuid.UUID | None,
) -> list[str]:
    stored = (
        await session.scalars(select(VictimFollowedCase).where(VictimFollowedCase.registration_id == reg.id))
    ).all()
    have = {(f.offender_service_id, f.case_reference): f for f in stored}
    keep = {(f.service_id, f.reference) for f in wanted}
    changed = False
    for follow in wanted:
        case = await vsu_case(session, service_id, follow, advocate)
        if (follow.service_id, follow.reference) not in have:
            session.add(
                VictimFollowedCase(
                    registration_id=reg.id,
                    offender_service_id=follow.service_id,
                    case_reference=follow.reference,
                    offender_name=follow.offender_name,
                    vsu_case_id=case.id,
                )
            )
            changed = True
        elif have[(follow.service_id, follow.reference)].offender_name != follow.offender_name:
            have[(follow.service_id, follow.reference)].offender_name = follow.offender_name
            changed = True
        participant = await session.scalar(
            select(CaseParticipant.id).where(
                CaseParticipant.case_id == case.id,
                CaseParticipant.person_id == person.id,
                CaseParticipant.role == ParticipantRole.VICTIM.value,
            )
        )
        if participant is None:
            session.add(CaseParticipant(case_id=case.id, person_id=person.id, role=ParticipantRole.VICTIM.value))
    gone = [f.id for key, f in have.items() if key not in keep]
    if gone:
        await session.execute(delete(VictimFollowedCase).where(VictimFollowedCase.id.in_(gone)))
        changed = True
    await session.flush()
    return ["cases"] if changed else []


async def find_registration(
    session: AsyncSession, service_id: uuid.UUID, external_id: str
) -> tuple[VictimRegistration, Person] | None:
    person = await find_by_external_id(session, service_id, external_id)
    if person is None:
        return None
    reg = await session.scalar(
        select(VictimRegistration).where(
            VictimRegistration.person_id == person.id, VictimRegistration.service_id == service_id
        )
    )
    return None if reg is None else (reg, person)


async def contacts_of(
    session: AsyncSession, vault: Vault, person_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, list[str]]]:
    """Each person's active contact values by kind (phone, email, address), opened; one query a thousand."""
    out: dict[uuid.UUID, dict[str, list[str]]] = {}
    ids = list(person_ids)
    for start in range(0, len(ids), 1000):
        points = await session.execute(
            select(ContactPoint.person_id, ContactPoint.kind, ContactPoint.value_enc)
            .where(ContactPoint.person_id.in_(ids[start : start + 1000]), ContactPoint.retired_at.is_(None))
            .order_by(ContactPoint.created_at)
        )
        for person_id, kind, value_enc in points:
            out.setdefault(person_id, {}).setdefault(kind, []).append(vault.open(value_enc))
    return out


def letter_address(vault: Vault, reg: VictimRegistration, contacts: Mapping[str, list[str]]) -> str | None:
    """The one address a letter to this victim may carry: the substitute for a confidential victim."""
    if reg.confidential:
        return vault.open(reg.substitute_address_enc) if reg.substitute_address_enc else None
    found = contacts.get(ContactKind.ADDRESS.value) or []
    return found[0] if found else None


async def followed_cases(session: AsyncSession, registration_id: uuid.UUID) -> list[VictimFollowedCase]:
    return list(
        (
            await session.scalars(
                select(VictimFollowedCase)
                .where(VictimFollowedCase.registration_id == registration_id)
                .order_by(VictimFollowedCase.id)
            )
        ).all()
    )
