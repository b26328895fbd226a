"""The words of appointment messages: who gets them on which channel, in which language, with what values.

Every message about an appointment is a template (`templates/{sms,email}/{en,es}/appointment_*.txt`)
rendered through the one send path (`gateway.outbound.prepare_notification`):

| step          | template slug                  | when                                             |
| reminder:<s>  | appointment_auto_reminder      | each step of the plan (`gateway.appointments.plans`) |
| moved:<seq>   | appointment_new_time           | once, when the appointment moves                 |
| cancelled:<seq> | appointment_cancelled        | once, when it is cancelled                       |
| back_on:<seq> | appointment_back_on            | once, when a cancelled one is scheduled again    |
| missed        | appointment_missed             | once, when it is recorded as missed              |
| reschedule    | appointment_reschedule_ack     | once per "R" reply: the officer will be in touch |

The person is reached on the first of their preferred channels (`Person.preferred_channels`) that
they have an active contact point for, SMS or email; without a preference, by text if they have a
mobile number, else by email. In their language when it is English or Spanish, else English. Times
are said on the client's clock (their own zone, else the appointment's) with the zone's abbreviation
("Tuesday 12 January 2027, 10:30 am CST"). Optional values the template may leave out are "-" (the
renderer refuses a blank value).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import LocationKind
from gateway.crypto import Vault
from gateway.db import Appointment, ContactPoint, Person, Service, Template
from gateway.db.base import padded
from gateway.domain import Channel, KeyType
from gateway.errors import ApiError
from gateway.localtime import UnknownZone, to_local, zone
from gateway.outbound import prepare_notification
from gateway.template_store import TemplateRow, _row
from gateway.templating import shared_renderer

REMINDER = "appointment_auto_reminder"
NEW_TIME = "appointment_new_time"
CANCELLED = "appointment_cancelled"
BACK_ON = "appointment_back_on"
MISSED = "appointment_missed"
RESCHEDULE_ACK = "appointment_reschedule_ack"
SLUGS = (REMINDER, NEW_TIME, CANCELLED, BACK_ON, MISSED, RESCHEDULE_ACK)
LANGUAGES = ("en", "es")
NONE = "-"  # an optional value left out (the template checks for it)

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
_MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}  # fmt: skip
_WHERE = {
    "en": {LocationKind.ADDRESS: "at {place}", LocationKind.PHONE: "by phone", LocationKind.VIDEO: "by video: {place}"},
    "es": {LocationKind.ADDRESS: "en {place}", LocationKind.PHONE: "por teléfono",
           LocationKind.VIDEO: "por video: {place}"},
}  # fmt: skip


def language_of(person_language: str | None) -> str:
    code = (person_language or "en").lower().split("-")[0]
    return code if code in LANGUAGES else "en"


def say_date(when: datetime, zone_name: str, language: str) -> str:
    """ "Tuesday 12 January 2027" / "martes 12 de enero de 2027", on `zone_name`'s clock."""
    local = to_local(when, zone_name)
    day, month = _DAYS[language][local.weekday()], _MONTHS[language][local.month - 1]
    if language == "es":
        return f"{day} {local.day} de {month} de {local.year}"
    return f"{day} {local.day} {month} {local.year}"


def say_time(when: datetime, zone_name: str, language: str) -> str:
    """ "10:30 am CST" / "10:30 a. m. CST": the time and the zone's abbreviation on that day."""
    local = to_local(when, zone_name)
    hour = local.hour % 12 or 12
    half = ("am" if local.hour < 12 else "pm") if language == "en" else ("a. m." if local.hour < 12 else "p. m.")
    return f"{hour}:{local.minute:02d} {half} {local.strftime('%Z')}"


def say_when(when: datetime, zone_name: str, language: str) -> str:
    """ "Tuesday 12 January 2027, 10:30 am CST"."""
    return f"{say_date(when, zone_name, language)}, {say_time(when, zone_name, language)}"


def say_where(appointment: Appointment, language: str) -> str:
    try:
        kind = LocationKind(appointment.location_kind)
    except ValueError:
        kind = LocationKind.ADDRESS
    place = (appointment.location or "").strip()
    if kind is not LocationKind.PHONE and not place:
        return "por confirmar" if language == "es" else "to be confirmed"
    return _WHERE[language][kind].format(place=place)


@dataclass(frozen=True)
class Reach:
    """How one person is reached: channel, address (opened), language, the name to greet them by, and
    their own time zone when the directory has one (times are said on their clock)."""

    channel: Channel
    address: str
    language: str
    first_name: str
    zone: str | None = None


def client_zone(reach: Reach, appointment: Appointment) -> str:
    """The clock a client reads times on: their own zone if known and valid, else the appointment's."""
    if reach.zone:
        try:
            zone(reach.zone)
            return reach.zone
        except UnknownZone:
            pass
    return appointment.time_zone


def appointment_values(appointment: Appointment, reach: Reach, service_name: str) -> dict[str, Any]:
    """The personalisation of every appointment template."""
    language, zone = reach.language, client_zone(reach, appointment)
    previous = appointment.previous_starts_at
    return {
        "first_name": reach.first_name,
        "kind": appointment.kind,
        "title": (appointment.title or "").strip() or NONE,
        "date": say_date(appointment.starts_at, zone, language),
        "time": say_time(appointment.starts_at, zone, language),
        "where": say_where(appointment, language),
        "bring": (appointment.bring or "").strip() or NONE,
        "previous": say_when(previous, zone, language) if previous is not None else NONE,
        "service_name": service_name,
    }


async def reach_people(session: AsyncSession, vault: Vault, person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Reach]:
    """How to reach each person (absent: retired, merged, or no mobile number or email address). Two queries
    per thousand people."""
    ids = list(set(person_ids))
    out: dict[uuid.UUID, Reach] = {}
    for at in range(0, len(ids), 1000):
        chunk = ids[at : at + 1000]
        people = (
            await session.execute(
                select(
                    Person.id,
                    Person.language,
                    Person.preferred_channels,
                    Person.preferred_name,
                    Person.first_name,
                    Person.display_name,
                    Person.timezone,
                ).where(Person.id.in_(padded(chunk)), Person.retired_at.is_(None), Person.merged_into_id.is_(None))
            )
        ).all()
        points: dict[uuid.UUID, dict[str, str]] = {}
        rows = await session.execute(
            select(ContactPoint.person_id, ContactPoint.kind, ContactPoint.value_enc)
            .where(
                ContactPoint.person_id.in_(padded(chunk)),
                ContactPoint.retired_at.is_(None),
                ContactPoint.kind.in_(("phone", "email")),
            )
            .order_by(ContactPoint.created_at, ContactPoint.id)
        )
        for person_id, kind, value_enc in rows:
            points.setdefault(person_id, {}).setdefault(kind, value_enc)  # the oldest of each kind
        for person_id, language, preferred, preferred_name, first_name, display_name, person_zone in people:
            have = points.get(person_id, {})
            order = [c for c in (preferred or []) if c in ("sms", "email")] + ["sms", "email"]
            channel = next((Channel(c) for c in order if ("phone" if c == "sms" else "email") in have), None)
            if channel is None:
                continue
            sealed = have["phone" if channel is Channel.SMS else "email"]
            name = (preferred_name or first_name or display_name or "").strip() or display_name
            out[person_id] = Reach(channel, vault.open(sealed), language_of(language), name, person_zone)
    return out


class Templates:
    """The appointment templates for a service, read once per batch: its own version of a slug wins over
    the agency's, the person's language over English."""

    def __init__(self, rows: list[Template]) -> None:
        self._rows = rows
        self._cache: dict[tuple[uuid.UUID, str, Channel, str], TemplateRow | None] = {}

    @classmethod
    async def load(
        cls, session: AsyncSession, service_ids: Iterable[uuid.UUID], slugs: Iterable[str] = SLUGS
    ) -> Templates:
        rows = (
            await session.scalars(
                select(Template).where(
                    Template.slug.in_(tuple(slugs)),
                    Template.archived.is_(False),
                    or_(Template.service_id.is_(None), Template.service_id.in_(set(service_ids))),
                )
            )
        ).all()
        return cls(list(rows))

    def get(self, service_id: uuid.UUID, slug: str, channel: Channel, language: str) -> TemplateRow | None:
        key = (service_id, slug, channel, language)
        if key not in self._cache:
            fits = [
                t
                for t in self._rows
                if t.slug == slug
                and t.channel == channel.value
                and t.language in (language, "en")
                and t.service_id in (None, service_id)
            ]
            best = min(fits, key=lambda t: (t.language != language, t.service_id is None), default=None)
            self._cache[key] = _row(best) if best is not None else None
        return self._cache[key]


def message_row(
    vault: Vault,
    a: Appointment,
    service: Service | None,
    person: Reach | None,
    templates: Templates,
    slug: str,
    step: str,
    due: datetime | None,
    send_before: datetime | None,
) -> dict[str, Any] | str:
    """The notification row of one message about appointment `a` (automatic: quiet hours hold it; due at
    `due`, or now when None; not sent at or after `send_before`), or why it cannot be written."""
    if service is None or person is None:
        return "the client has no mobile number or email address to reach"
    channel = person.channel
    try:
        prepared = prepare_notification(
            vault=vault,
            renderer=shared_renderer(),
            template=templates.get(a.service_id, slug, channel, person.language),
            channel=channel,
            recipient=person.address,
            personalisation=appointment_values(a, person, service.name),
            service_id=a.service_id,
            key_type=KeyType.LIVE,
            sender=service.sms_sender if channel is Channel.SMS else service.email_from,
            person_id=a.person_id,
            case_id=a.case_id,
            one_click_unsubscribe=True,
            automatic=True,
            send_before=send_before,
        )
    except ApiError as exc:
        return exc.message
    row = prepared.row
    row["appointment_id"], row["appointment_step"] = a.id, step
    row["scheduled_for"] = row["next_attempt_at"] = due
    return row
