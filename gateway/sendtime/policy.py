"""Policy checked at send time, just before a notification goes to its channel.

* **Opt-out**: an `OptOut` row with `opted_out` for the service, channel and recipient (blind
  index) refuses the send; its `sender` is the sending number or address it applies to, and ""
  means every sender of the service. The delivery job fails such a notification at once with
  `permanent-failure` and `OPTED_OUT_REASON`.
* **Retired**: a retired person (`people.retired_at`, set by `DELETE /v2/people/{id}` or a merge)
  and a retired contact point (a changed or removed number, kept so replies still resolve) are
  never sent to. A notification for a retired person, or to an address the service knows only as
  retired (no active point of an active person has it), fails at once with `permanent-failure` and
  `RETIRED_REASON`. Staff sends check `unsendable_reason` first and say why, storing nothing; the
  API, like Notify with an opted-out number, accepts by number and the delivery job refuses it.
* **Per-sender rate**: Twilio allows each sending number so many messages a second, so every
  worker draws from one token bucket per (channel, sender) (`gateway.sendtime.ratelimit`, in Redis when
  scaled). SMS uses the service's `sms_per_second`; email uses GATEWAY_EMAIL_PER_SECOND. A bucket
  holds at most one second's worth, so bursts stay within the provider's limit. A batch asks for
  slots for all its messages from one sender in one call; those whose slot is later wait for it
  (`rate_slot_at`, the single-notification job due then) and take no second token, never failed.
  Sandbox sends (test keys) and letters are not limited.

* **Quiet hours** (`gateway.sendtime.quiet_hours`): a text the gateway sends on its own
  (`automatic`) outside the service's sending window on the recipient's clock waits for the window's
  opening (`quiet_holds`: deferred, keeping `created`); one that could then only arrive at or after its
  `send_before` (a reminder due after its appointment) is not sent: `cancelled`, `QUIET_TOO_LATE`,
  which its case record shows. Any message past its `send_before` (after an outage, say) is
  `cancelled` with `TOO_LATE_REASON`: a reminder for an appointment that has begun helps nobody.
  `quiet_override` (an urgent victim-safety notice) lets it go at once.

Channel fallback belongs here too when it is built.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import ContactPoint, OptOut, Person
from gateway.db.base import padded
from gateway.domain import Channel
from gateway.sendtime.quiet_hours import QUIET_TOO_LATE, BadWindow, next_opening, parse_window, recipient_zone
from gateway.sendtime.ratelimit import RateLimiter
from gateway.settings import Settings

OPTED_OUT_REASON = "recipient opted out"
RETIRED_REASON = "recipient retired"
TOO_LATE_REASON = "not sent: the time it was for has passed"
CONTACT_KIND = {Channel.SMS: "phone", Channel.EMAIL: "email", Channel.LETTER: "address"}


@dataclass(frozen=True)
class Addressee:
    """Who a message goes to, as opt-outs are kept: service, channel, recipient (blind index), sender."""

    service_id: uuid.UUID
    channel: Channel
    recipient_index: str
    sender: str | None
    person_id: uuid.UUID | None = None  # who it is for, when the send knows (staff chat, reminders)


async def opted_out(session: AsyncSession, addressees: Iterable[Addressee]) -> set[Addressee]:
    """The addressees that opted out of their service's messages on their channel from their sender
    (or from every sender): one query for any number of them."""
    wanted = set(addressees)
    if not wanted:
        return set()
    table = cast(Table, OptOut.__table__)  # Core: this runs for every delivery job
    rows = await session.execute(
        select(table.c.service_id, table.c.channel, table.c.address_index, table.c.sender).where(
            table.c.service_id.in_(padded({a.service_id for a in wanted})),
            table.c.channel.in_(padded({a.channel.value for a in wanted})),
            table.c.address_index.in_(padded({a.recipient_index for a in wanted})),
            table.c.opted_out.is_(True),
        )
    )
    found = {(service_id, channel, index, sender) for service_id, channel, index, sender in rows}
    return {
        a
        for a in wanted
        if {(a.service_id, a.channel.value, a.recipient_index, s) for s in ("", a.sender or "")} & found
    }


async def is_opted_out(
    session: AsyncSession, service_id: uuid.UUID, channel: Channel, recipient_index: str, sender: str | None
) -> bool:
    """True when the recipient opted out of this service's messages on this channel from this sender."""
    return bool(await opted_out(session, [Addressee(service_id, channel, recipient_index, sender)]))


async def unsendable(session: AsyncSession, addressees: Iterable[Addressee]) -> set[Addressee]:
    """The addressees that are retired: their person, or their address as the service knows it.
    Two queries for any number of them."""
    wanted = set(addressees)
    if not wanted:
        return set()
    people = {a.person_id for a in wanted if a.person_id is not None}
    retired_people: set[uuid.UUID] = set()
    if people:
        retired_people = set(
            (
                await session.scalars(
                    select(Person.id).where(
                        Person.id.in_(padded(people)),
                        (Person.retired_at.is_not(None)) | (Person.merged_into_id.is_not(None)),
                    )
                )
            ).all()
        )
    points = cast(Table, ContactPoint.__table__)
    people_table = cast(Table, Person.__table__)
    rows = await session.execute(
        select(
            points.c.service_id,
            points.c.kind,
            points.c.value_index,
            points.c.retired_at.is_(None) & people_table.c.retired_at.is_(None),
        )
        .join(people_table, people_table.c.id == points.c.person_id)
        .where(
            points.c.service_id.in_(padded({a.service_id for a in wanted})),
            points.c.kind.in_(padded({CONTACT_KIND[a.channel] for a in wanted})),
            points.c.value_index.in_(padded({a.recipient_index for a in wanted})),
        )
    )
    live: dict[tuple[uuid.UUID, str, str], bool] = {}
    for service_id, kind, index, active in rows:
        live[(service_id, kind, index)] = live.get((service_id, kind, index), False) or bool(active)
    return {
        a
        for a in wanted
        if a.person_id in retired_people
        or live.get((a.service_id, CONTACT_KIND[a.channel], a.recipient_index)) is False
    }


async def unsendable_reason(session: AsyncSession, addressee: Addressee) -> str | None:
    """Why a staff member cannot send to this addressee (retired), in words for them; None if they can."""
    if not await unsendable(session, [addressee]):
        return None
    if addressee.person_id is not None:
        person = await session.get(Person, addressee.person_id)
        if person is not None and (person.retired_at is not None or person.merged_into_id is not None):
            return (
                f"{person.display_name} has been retired from this service's list of people: "
                "their history is kept, but nothing more is sent to them. Nothing was sent."
            )
    return (
        "This number or address has been retired (changed or removed): it is kept so replies from it "
        "still arrive, but nothing is sent to it. Nothing was sent."
    )


def sender_rate(settings: Settings, channel: Channel, sms_per_second: int) -> float | None:
    """Messages a second allowed per sender on `channel`, or None when it is not limited."""
    if channel is Channel.SMS:
        return float(sms_per_second)
    if channel is Channel.EMAIL:
        return settings.email_per_second
    return None


async def sender_slots(
    limiter: RateLimiter, channel: Channel, sender: str, per_second: float | None, count: int
) -> list[float]:
    """A send slot for each of `count` messages from `sender`, in seconds from now (0.0: send now), by
    their place in the sender's whole backlog. One call for a whole batch of one sender's messages."""
    if per_second is None:
        return [0.0] * count
    return await limiter.schedule(f"sender:{channel.value}:{sender}", per_second, max(1.0, per_second), count)


QUIET_CHANNELS = frozenset({Channel.SMS})  # what wakes a person; email and letters wait quietly


@dataclass(frozen=True)
class QuietCheck:
    """One message's facts for quiet hours: who (person, number), the service's zone and window, whether
    the window applies (`quiet`: an automatic text with no override), and the time after which it is not
    worth sending (None: any time)."""

    notification_id: uuid.UUID
    person_id: uuid.UUID | None
    number: str
    service_zone: str
    window: str | None
    send_before: datetime | None
    quiet: bool = True


async def quiet_holds(
    session: AsyncSession, checks: Iterable[QuietCheck], now: datetime
) -> dict[uuid.UUID, datetime | str]:
    """The checks that may not go now: each one's window opening (defer to it), or the reason it is not to
    be sent at all: it is already past its `send_before` (`TOO_LATE_REASON`), or its window opens only at
    or after it (`QUIET_TOO_LATE`). One query for the people's zones."""
    wanted = list(checks)
    people = {c.person_id for c in wanted if c.person_id is not None}
    zones: dict[uuid.UUID, str | None] = {}
    if people:
        rows = await session.execute(select(Person.id, Person.timezone).where(Person.id.in_(padded(people))))
        zones = {pid: tz for pid, tz in rows}
    holds: dict[uuid.UUID, datetime | str] = {}
    for c in wanted:
        try:
            window = parse_window(c.window)
        except BadWindow:  # refused when set; a stored bad value falls back to the default, never to "any hour"
            window = parse_window(None)
        zone = recipient_zone(zones.get(c.person_id) if c.person_id else None, c.number, c.service_zone)
        opening = next_opening(now, zone, window) if c.quiet else now
        if c.send_before is not None and now >= c.send_before:
            holds[c.notification_id] = TOO_LATE_REASON
        elif c.send_before is not None and opening >= c.send_before:
            holds[c.notification_id] = QUIET_TOO_LATE
        elif opening > now:
            holds[c.notification_id] = opening
    return holds
