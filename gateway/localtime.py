"""Agency-local time. Each service has an IANA time zone (`services.timezone`, default UTC, set with
`gateway service update ID --timezone America/Chicago`). Staff pages show times in it and read the
times staff type (a scheduled send) in it; everything stored stays UTC.

A wall-clock time that does not exist on its day (the hour skipped when clocks go forward) is
refused rather than moved; one that happens twice (the hour repeated when they go back) means the
first of the two.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"


class UnknownZone(ValueError):
    """Not an IANA time zone name."""


class NonexistentTime(ValueError):
    """A wall-clock time skipped by a daylight-saving change in that zone."""


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The zone called `name` (e.g. "America/Chicago"); UnknownZone when there is none."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise UnknownZone(f"{name!r} is not a time zone name such as America/Chicago")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownZone(f"{name!r} is not a time zone name such as America/Chicago") from None


def to_local(when: datetime, zone_name: str) -> datetime:
    """A stored (UTC) time as the service's wall clock shows it."""
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return aware.astimezone(zone(zone_name))


def from_local(wall: datetime, zone_name: str) -> datetime:
    """A wall-clock time in the service's zone (naive), as UTC; NonexistentTime for a skipped time."""
    tz = zone(zone_name)
    when = wall.replace(tzinfo=tz, fold=0)
    if when.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise NonexistentTime(f"{wall:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks change then")
    return when.astimezone(UTC)


def day_start(day: date, zone_name: str) -> datetime:
    """Midnight at the start of `day` on the service's wall clock, in UTC (a date filter's bound)."""
    return datetime.combine(day, time.min, tzinfo=zone(zone_name)).astimezone(UTC)


def local_format(when: datetime | None, zone_name: str, fmt: str) -> str:
    """`when` formatted on the service's wall clock ("" for None); `%Z` gives the zone's abbreviation."""
    return "" if when is None else to_local(when, zone_name).strftime(fmt)
