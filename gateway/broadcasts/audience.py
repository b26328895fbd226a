"""Who a broadcast goes to, from the directory: a caseload (mine, or an officer's), an office, a program,
a tag, or everyone with an appointment on a day. Open cases' clients only; one message a person.

Each person's channel comes from their preferences (`people.preferred_channels`, in order) among the
content's channels and the contact points they have (active phone → SMS, active email → email); with
no preference, SMS first. People the gateway must not write to are left out, with the reason: retired
(or merged), or no usable contact point. Opt-outs are found in bulk afterwards (`gateway.broadcasts.preview`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import AppointmentStatus
from gateway.crypto import Vault
from gateway.db import Appointment, Case, CaseParticipant, ContactPoint, Person, StaffUser
from gateway.db.base import padded
from gateway.domain import CaseStatus, Channel, ParticipantRole
from gateway.localtime import day_start

CHANNEL_KIND = {Channel.SMS: "phone", Channel.EMAIL: "email"}
NO_CONTACT = "no usable phone number or email address"
RETIRED = "retired from the service's list of people"
CHUNK = 1000


class AudienceKind(StrEnum):
    CASELOAD = "caseload"  # value: a staff id
    OFFICE = "office"
    PROGRAM = "program"
    TAG = "tag"
    APPOINTMENTS = "appointments"  # value: a local date, YYYY-MM-DD
    UPLOAD = "upload"


@dataclass(frozen=True, slots=True)
class Recipient:
    """One message's addressee: channel, address (normalised), the values for personalisation, and the
    person and case when known (replies then reach their conversation and the case record)."""

    channel: Channel
    address: str
    values: dict[str, str]
    person_id: uuid.UUID | None = None
    case_id: uuid.UUID | None = None
    label: str = ""  # how pages name them: the person's name, or "row 12"
    zone: str | None = None  # the person's time zone, when known


@dataclass(frozen=True, slots=True)
class LeftOut:
    label: str
    reason: str


@dataclass
class Resolved:
    recipients: list[Recipient] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


def describe(kind: AudienceKind, value: str, staff_name: str | None = None) -> str:
    """The audience in words, for pages and the report."""
    return {
        AudienceKind.CASELOAD: f"Caseload of {staff_name or 'an officer'}",
        AudienceKind.OFFICE: f"Office: {value}",
        AudienceKind.PROGRAM: f"Program: {value}",
        AudienceKind.TAG: f"Tag: {value}",
        AudienceKind.APPOINTMENTS: f"Everyone with an appointment on {value}",
        AudienceKind.UPLOAD: f"Uploaded list: {value}",
    }[kind]


def _cases(service_id: uuid.UUID) -> Any:  # a Select of (case columns..., Person)
    return (
        select(Case.id, Case.external_ref, Case.office, Case.program, Case.tags, Person)
        .join(CaseParticipant, CaseParticipant.case_id == Case.id)
        .join(Person, Person.id == CaseParticipant.person_id)
        .where(
            Case.service_id == service_id,
            Case.status == CaseStatus.OPEN.value,
            CaseParticipant.role == ParticipantRole.CLIENT.value,
        )
        .order_by(Person.display_name, Person.id)
    )


async def people_for(
    db: AsyncSession, service_id: uuid.UUID, zone_name: str, kind: AudienceKind, value: str
) -> list[tuple[uuid.UUID, str, str | None, str | None, Person]]:
    """(case id, case reference, office, program, person) for each person in the audience, once."""
    stmt = _cases(service_id)
    if kind is AudienceKind.CASELOAD:
        stmt = stmt.where(Case.assigned_staff_id == uuid.UUID(value))
    elif kind is AudienceKind.OFFICE:
        stmt = stmt.where(Case.office == value)
    elif kind is AudienceKind.PROGRAM:
        stmt = stmt.where(Case.program == value)
    elif kind is AudienceKind.APPOINTMENTS:
        start = day_start(date.fromisoformat(value), zone_name)
        booked = select(Appointment.case_id).where(
            Appointment.service_id == service_id,
            Appointment.starts_at >= start,
            Appointment.starts_at < day_start(date.fromisoformat(value) + timedelta(days=1), zone_name),
            Appointment.status != AppointmentStatus.CANCELLED.value,
        )
        stmt = stmt.where(Case.id.in_(booked))
    elif kind is not AudienceKind.TAG:
        raise ValueError(f"not a directory audience: {kind}")
    seen: set[uuid.UUID] = set()
    out = []
    for case_id, ref, office, program, tags, person in (await db.execute(stmt)).all():
        if kind is AudienceKind.TAG and value.lower() not in {str(t).lower() for t in tags or ()}:
            continue
        if person.id not in seen:
            seen.add(person.id)
            out.append((case_id, ref, office, program, person))
    return out


async def resolve_directory(
    db: AsyncSession,
    vault: Vault,
    service_id: uuid.UUID,
    zone_name: str,
    kind: AudienceKind,
    value: str,
    channels: frozenset[Channel],
) -> Resolved:
    """The audience's recipients on their preferred channel, and who is left out and why."""
    found = await people_for(db, service_id, zone_name, kind, value)
    resolved = Resolved()
    points: dict[uuid.UUID, dict[str, str]] = {}
    ids = [person.id for *_, person in found]
    for at in range(0, len(ids), CHUNK):
        rows = await db.execute(
            select(ContactPoint.person_id, ContactPoint.kind, ContactPoint.value_enc)
            .where(
                ContactPoint.person_id.in_(padded(ids[at : at + CHUNK])),
                ContactPoint.service_id == service_id,
                ContactPoint.retired_at.is_(None),
                ContactPoint.kind.in_(list(CHANNEL_KIND.values())),
            )
            .order_by(ContactPoint.created_at)
        )
        for person_id, point_kind, value_enc in rows:
            points.setdefault(person_id, {})[point_kind] = value_enc  # the newest of each kind wins
    for case_id, ref, office, program, person in found:
        label = person.display_name
        if person.retired_at is not None or person.merged_into_id is not None:
            resolved.left_out.append(LeftOut(label, RETIRED))
            continue
        channel = choose_channel(person.preferred_channels or [], channels, points.get(person.id, {}))
        if channel is None:
            resolved.left_out.append(LeftOut(label, NO_CONTACT))
            continue
        values = {
            "name": person.preferred_name or person.display_name,
            "full_name": person.display_name,
            "first_name": person.preferred_name or person.first_name or person.display_name,
            "last_name": person.last_name or "",
            "case_reference": ref,
            "office": office or "",
            "program": program or "",
        }
        address = vault.open(points[person.id][CHANNEL_KIND[channel]])
        resolved.recipients.append(Recipient(channel, address, values, person.id, case_id, label, person.timezone))
    return resolved


def choose_channel(preferred: list[str], channels: frozenset[Channel], points: dict[str, str]) -> Channel | None:
    """The first of the person's preferred channels the content has and they have a contact point for;
    then SMS, then email."""
    order = [c for c in preferred if c in (Channel.SMS.value, Channel.EMAIL.value)] + ["sms", "email"]
    for name in dict.fromkeys(order):
        channel = Channel(name)
        if channel in channels and CHANNEL_KIND[channel] in points:
            return channel
    return None


async def officers(db: AsyncSession, service_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The service's active staff (for a supervisor choosing an officer's caseload)."""
    rows = await db.execute(
        select(StaffUser.id, StaffUser.name)
        .where(StaffUser.service_id == service_id, StaffUser.active.is_(True))
        .order_by(StaffUser.name)
    )
    return [(sid, name) for sid, name in rows]


async def choices(db: AsyncSession, service_id: uuid.UUID) -> dict[str, list[str]]:
    """The offices, programs and tags of the service's open cases, for the audience form."""
    rows = await db.execute(
        select(Case.office, Case.program, Case.tags).where(
            Case.service_id == service_id, Case.status == CaseStatus.OPEN.value
        )
    )
    offices: set[str] = set()
    programs: set[str] = set()
    tags: set[str] = set()
    for office, program, case_tags in rows:
        if office:
            offices.add(office)
        if program:
            programs.add(program)
        tags.update(str(t) for t in case_tags or ())
    return {"office": sorted(offices), "program": sorted(programs), "tag": sorted(tags)}
