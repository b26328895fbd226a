"""Agency-local time: the service's wall clock for display and for times staff type."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.localtime import NonexistentTime, UnknownZone, from_local, local_format, to_local, zone


def test_wall_clock_times_become_utc_and_back() -> None:
    assert from_local(datetime(2030, 1, 15, 9, 0), "America/Chicago") == datetime(2030, 1, 15, 15, 0, tzinfo=UTC)
    assert from_local(datetime(2030, 7, 15, 9, 0), "America/Chicago") == datetime(2030, 7, 15, 14, 0, tzinfo=UTC)
    assert to_local(datetime(2030, 7, 15, 14, 0, tzinfo=UTC), "America/Chicago").hour == 9
    assert to_local(datetime(2030, 7, 15, 14, 0), "UTC").hour == 14  # naive stored times are UTC
    assert local_format(datetime(2030, 1, 15, 15, 0, tzinfo=UTC), "America/Chicago", "%H:%M %Z") == "09:00 CST"
    assert local_format(None, "America/Chicago", "%H:%M") == ""


def test_a_skipped_time_is_refused_and_a_repeated_one_means_the_first() -> None:
    with pytest.raises(NonexistentTime, match="2030-03-10 02:30 does not exist in America/Chicago"):
        from_local(datetime(2030, 3, 10, 2, 30), "America/Chicago")
    # 01:30 happens twice on 2030-11-03 (CDT, then CST): the first, 06:30 UTC
    assert from_local(datetime(2030, 11, 3, 1, 30), "America/Chicago") == datetime(2030, 11, 3, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", " UTC", "America/"])
def test_only_real_zone_names_are_taken(name: str) -> None:
    with pytest.raises(UnknownZone, match="is not a time zone name"):
        zone(name)
