"""Quiet hours on the recipient's clock: the window, the zone, and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.sendtime.quiet_hours import BadWindow, Window, next_opening, parse_window, phone_zone, recipient_zone

FEDERAL = parse_window(None)
CHICAGO = "America/Chicago"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_windows_parse_presets_and_refuse_nonsense() -> None:
    assert str(FEDERAL) == "08:00-21:00"
    assert str(parse_window("strict")) == "09:00-20:00"
    assert str(parse_window(" 07:30-19:45 ")) == "07:30-19:45"
    for bad in ("8-21", "21:00-08:00", "09:00-09:00", "24:00-25:00", "always"):
        with pytest.raises(BadWindow):
            parse_window(bad)


def test_inside_the_window_goes_now_and_outside_waits_for_the_next_opening() -> None:
    noon_chicago = utc("2026-07-01T17:00:00")  # 12:00 CDT
    assert next_opening(noon_chicago, CHICAGO, FEDERAL) == noon_chicago
    late = utc("2026-07-02T03:30:00")  # 22:30 CDT on 1 July
    assert next_opening(late, CHICAGO, FEDERAL) == utc("2026-07-02T13:00:00")  # 08:00 CDT on 2 July
    early = utc("2026-07-01T11:59:00")  # 06:59 CDT
    assert next_opening(early, CHICAGO, FEDERAL) == utc("2026-07-01T13:00:00")
    closing = utc("2026-07-02T02:00:00")  # 21:00 CDT exactly: the window has closed
    assert next_opening(closing, CHICAGO, FEDERAL) == utc("2026-07-02T13:00:00")


def test_spring_forward_keeps_the_local_opening_hour() -> None:
    # 8 March 2026: Chicago goes from CST (-6) to CDT (-5) at 02:00
    night = utc("2026-03-08T06:00:00")  # 00:00 CST
    assert next_opening(night, CHICAGO, FEDERAL) == utc("2026-03-08T13:00:00")  # 08:00 CDT, not 14:00 UTC
    # a window opening inside the skipped hour moves on by the gap
    assert next_opening(night, CHICAGO, Window(*parse_window("02:30-21:00").__dict__.values())) == utc(
        "2026-03-08T08:30:00"
    )


def test_fall_back_keeps_the_local_opening_hour() -> None:
    # 1 November 2026: Chicago goes from CDT (-5) to CST (-6) at 02:00
    night = utc("2026-11-01T05:00:00")  # 00:00 CDT
    assert next_opening(night, CHICAGO, FEDERAL) == utc("2026-11-01T14:00:00")  # 08:00 CST
    evening = utc("2026-11-02T02:59:00")  # 20:59 CST on 1 November: still open
    assert next_opening(evening, CHICAGO, FEDERAL) == evening


def test_the_recipients_zone_person_then_number_then_service() -> None:
    assert phone_zone("+13125550100") == CHICAGO
    assert phone_zone("+18005550100") is None  # toll-free spans the continent: not used
    assert phone_zone("+15551234567") is None
    assert phone_zone("not a number") is None
    assert recipient_zone("America/Denver", "+13125550100", "UTC") == "America/Denver"
    assert recipient_zone(None, "+13125550100", "UTC") == CHICAGO
    assert recipient_zone(None, "+18005550100", "America/New_York") == "America/New_York"
    assert recipient_zone("Not/AZone", None, "America/New_York") == "America/New_York"
