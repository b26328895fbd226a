"""Reminder plans: the research defaults per kind, precise refusals of bad steps, and due times on the
appointment's clock across America/Chicago's 2027 daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.appointments import AppointmentKind
from gateway.appointments.plans import BadPlan, check_steps, default_steps, parse_steps_text, steps_text
from gateway.appointments.sendcheck import CHOICES
from gateway.localtime import to_local
from gateway.questions import QuestionError, check_choices

CHICAGO = "America/Chicago"


def chicago(text: str) -> datetime:
    """A Chicago wall-clock time as UTC."""
    from gateway.localtime import from_local

    return from_local(datetime.fromisoformat(text), CHICAGO)


def test_defaults_per_kind_follow_the_research() -> None:
    plans = {kind: steps_text(default_steps(kind)) for kind in AppointmentKind}
    assert plans == {
        AppointmentKind.OFFICE_VISIT: "1d",
        AppointmentKind.DRUG_TEST: "1d",
        AppointmentKind.GROUP_SESSION: "1d",
        AppointmentKind.COURT_HEARING: "7d, 1d, 0d@08:00",
        AppointmentKind.JOB_INTERVIEW: "1d, 2h",
        AppointmentKind.WORKSHOP: "1d",
        AppointmentKind.OTHER: "1d",
    }


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "at least one step"),
        ("1d", "at least one step"),
        ([{"before": "1w"}], 'step 1: "before" must be a number and d, h or m'),
        ([{"before": "0d"}], 'step 1: "before" must be a number'),
        ([{"before": "-1d"}], 'step 1: "before" must be a number'),
        ([{"before": 24}], 'step 1: "before" must be a number'),
        ([{"before": "31d"}], "step 1: at most 30 days"),
        ([{"before": "1d"}, {"before": "1d"}], "step 1d is given twice"),
        ([{"days_before": 0, "at": "8:00"}], 'step 1: "at" must be a 24-hour time'),
        ([{"days_before": 0, "at": "24:00"}], 'step 1: "at" must be a 24-hour time'),
        ([{"days_before": -1, "at": "08:00"}], 'step 1: "days_before" must be a whole number from 0 to 30'),
        ([{"days_before": True, "at": "08:00"}], '"days_before" must be a whole number'),
        ([{"days_before": 1}], 'step 1: give either "before" or "days_before" with "at" (got days_before)'),
        ([{"before": "1d", "at": "08:00"}], "got at, before"),
        (["1d"], "step 1: must be"),
        ([{"before": f"{n}h"} for n in range(1, 7)], "at most 5 steps"),
    ],
)
def test_bad_steps_are_refused_precisely(steps: object, message: str) -> None:
    with pytest.raises(BadPlan) as refused:
        check_steps(steps)
    assert message in str(refused.value)


def test_steps_typed_as_text_and_sorted_earliest_first() -> None:
    steps = check_steps(parse_steps_text(" 2h, 0d@08:00 ,7d,30m"))
    assert steps_text(steps) == "7d, 0d@08:00, 2h, 30m"
    assert [s.as_json() for s in steps][1] == {"days_before": 0, "at": "08:00"}


def test_the_day_before_keeps_the_wall_clock_over_spring_forward() -> None:
    # Chicago springs forward on Sunday 14 March 2027 at 02:00 (CST -6 -> CDT -5)
    monday = chicago("2027-03-15T10:00")  # 10:00 CDT = 15:00 UTC
    [day_before] = check_steps([{"before": "1d"}])
    due = day_before.due(monday, CHICAGO)
    assert to_local(due, CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-03-14 10:00 CDT"
    assert due == datetime(2027, 3, 14, 15, 0, tzinfo=UTC)
    sunday = chicago("2027-03-14T15:00")  # the day of the change: the day before is still CST
    due = day_before.due(sunday, CHICAGO)
    assert to_local(due, CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-03-13 15:00 CST"
    assert sunday - due == (datetime(2027, 3, 14, 20) - datetime(2027, 3, 13, 21))  # 23 hours, not 24
    [morning] = check_steps([{"days_before": 0, "at": "08:00"}])
    assert to_local(morning.due(sunday, CHICAGO), CHICAGO).strftime("%H:%M %Z") == "08:00 CDT"
    # two hours before is a duration: 10:00 CDT on the Sunday is 2 hours after 07:00 CST... counted exactly
    [two_hours] = check_steps([{"before": "2h"}])
    assert to_local(two_hours.due(chicago("2027-03-14T04:00"), CHICAGO), CHICAGO).strftime("%H:%M %Z") == "01:00 CST"


def test_the_day_before_and_the_morning_of_over_fall_back() -> None:
    # Chicago falls back on Sunday 7 November 2027 at 02:00 (CDT -5 -> CST -6)
    monday = chicago("2027-11-08T09:30")  # CST
    [day_before] = check_steps([{"before": "1d"}])
    assert to_local(day_before.due(monday, CHICAGO), CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-11-07 09:30 CST"
    sunday = chicago("2027-11-07T14:00")  # CST; the day before was CDT: 25 hours earlier
    due = day_before.due(sunday, CHICAGO)
    assert to_local(due, CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-11-06 14:00 CDT"
    assert (sunday - due).total_seconds() == 25 * 3600
    [morning] = check_steps([{"days_before": 0, "at": "08:00"}])
    assert morning.due(sunday, CHICAGO) == datetime(2027, 11, 7, 14, 0, tzinfo=UTC)  # 08:00 CST
    [week] = check_steps([{"before": "7d"}])
    assert to_local(week.due(sunday, CHICAGO), CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-10-31 14:00 CDT"


def test_a_wall_time_skipped_by_spring_forward_moves_on_by_the_gap() -> None:
    # an appointment at 02:30 on Monday 15 March: the day before at 02:30 does not exist in Chicago
    monday = chicago("2027-03-15T02:30")
    [day_before] = check_steps([{"before": "1d"}])
    assert to_local(day_before.due(monday, CHICAGO), CHICAGO).strftime("%Y-%m-%d %H:%M %Z") == "2027-03-14 03:30 CDT"


def test_the_reply_choices_pass_the_question_rules_and_si_is_a_carrier_keyword() -> None:
    assert check_choices(CHOICES) == {"C": "confirm", "R": "reschedule"}
    with pytest.raises(QuestionError, match="carrier keyword"):
        check_choices({"SI": "confirm"})  # Spanish "yes": the carrier's opt-in keyword
