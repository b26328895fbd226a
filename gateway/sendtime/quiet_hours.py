"""Quiet hours: the hours of the recipient's own day in which the gateway may text them on its own.

A message the gateway sends **on its own** (`notifications.automatic`: reminders, broadcasts,
victim notices, auto-replies) goes only inside the service's sending window on the recipient's
local clock; one an officer sends by hand, or an API caller sends, is never held. A message due
outside the window waits for the window's next opening: deferred, never dropped. A message that must
arrive before a time (`notifications.send_before`: a reminder before its appointment) and could only
go at or after it is not sent at all, with `QUIET_TOO_LATE` as its reason. An urgent victim-safety
notice may override the window: `notifications.quiet_override` holds the recorded reason.

The recipient's zone, in order (`recipient_zone`): the person's own time zone; else the phone
number's region when `phonenumbers` maps it to exactly one zone (a Chicago area code, not a toll-free
or mobile-only range spanning the continent); else the service's zone.

The window is the service's `quiet_hours` setting, `HH:MM-HH:MM` (the hours when sending is allowed),
or a preset name (`PRESETS`): `federal` (08:00-21:00, the TCPA's calling hours, the default) and
`strict` (09:00-20:00, for states with narrower hours, e.g. Florida's and Oklahoma's 8 pm end with a
9 am start as a margin). Times are wall-clock times in the recipient's zone, so the window keeps its
local hours across daylight-saving changes; an opening that falls in a skipped hour moves on by the gap.

Only SMS (and, when it exists, voice) is held: an email or a letter waits in an inbox or a mailbox,
where it wakes nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import phonenumbers
from phonenumbers import timezone as phone_zones

from gateway import localtime

QUIET_TOO_LATE = "not sent: quiet hours would hold it until after the time it was for"
DEFAULT_WINDOW = "federal"
PRESETS = {"federal": "08:00-21:00", "strict": "09:00-20:00"}
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class BadWindow(ValueError):
    """Not a sending window (`HH:MM-HH:MM`, start before end) or a preset name."""


@dataclass(frozen=True)
class Window:
    """The local hours in which sending is allowed: from `opens` (inclusive) to `closes` (exclusive)."""

    opens: time
    closes: time

    def __str__(self) -> str:
        return f"{self.opens:%H:%M}-{self.closes:%H:%M}"


def parse_window(value: str | None) -> Window:
    """A service's `quiet_hours` setting as a `Window`; None or "" is the default (`federal`)."""
    text = PRESETS.get((value or DEFAULT_WINDOW).strip().lower(), (value or "").strip())
    found = _WINDOW.match(text)
    if not found:
        raise BadWindow(
            f"{value!r} is not a sending window: give HH:MM-HH:MM (e.g. 08:00-21:00) or one of {', '.join(PRESETS)}"
        )
    opens, closes = time(int(found[1]), int(found[2])), time(int(found[3]), int(found[4]))
    if opens >= closes:
        raise BadWindow(f"{value!r}: the window must open before it closes, on the same day")
    return Window(opens, closes)


def phone_zone(number: str | None) -> str | None:
    """The one IANA zone a phone number's region lies in, or None when it has none or several."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return None
    zones = phone_zones.time_zones_for_number(parsed)
    if len(zones) != 1 or zones[0] == phone_zones.UNKNOWN_TIMEZONE:
        return None
    return str(zones[0])


def recipient_zone(person_zone: str | None, number: str | None, service_zone: str) -> str:
    """Where the recipient's clock is: their own zone, else their number's single zone, else the service's."""
    for candidate in (person_zone, phone_zone(number)):
        if candidate:
            try:
                localtime.zone(candidate)
            except localtime.UnknownZone:
                continue
            return candidate
    return service_zone


def next_opening(at: datetime, zone_name: str, window: Window) -> datetime:
    """`at` itself when it is inside the window on the recipient's clock, else the window's next opening
    (UTC)."""
    local = localtime.to_local(at, zone_name)
    if window.opens <= local.time().replace(tzinfo=None) < window.closes:
        return at.astimezone(UTC)
    day = local.date() if local.time() < window.opens else local.date() + timedelta(days=1)
    return _wall(datetime.combine(day, window.opens), zone_name)


def _wall(wall: datetime, zone_name: str) -> datetime:
    """A local wall-clock time as UTC; a time skipped by a clock change moves on by the gap, as clocks do
    (02:30 on a spring-forward night is 03:30)."""
    try:
        return localtime.from_local(wall, zone_name)
    except localtime.NonexistentTime:
        # fold=0 reads a skipped time with the offset from before the change: the gap's length later
        return wall.replace(tzinfo=localtime.zone(zone_name), fold=0).astimezone(UTC)
