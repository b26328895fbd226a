"""Reminder plans: when a service reminds clients of each kind of appointment.

A plan is a list of steps (`ReminderPlan.steps`), each one of:

* `{"before": "1d" | "2h" | "30m"}` — that long before the start. Days keep the appointment's wall
  clock ("the day before at the same time", whatever a daylight-saving change in between does);
  hours and minutes are exact durations.
* `{"days_before": 0, "at": "08:00"}` — a fixed time on the appointment's clock, that many days
  before its day ("the morning of at 08:00").

A service without a row for a kind uses `DEFAULT_PLANS`, chosen from the research:

* office visit, drug test, group session: one text the day before. Arkansas Community Correction's
  2021 trial found a reminder the day before cut missed appointments by 29%; one two days before
  had no effect (Fishbane, Ouss & Shah, "Behavioral nudges reduce failure to appear for court",
  Science 2020, and the Arkansas supervision study by ideas42 / Arkansas DCC, 2021).
* court hearing: 7 days, 1 day and the morning of. In New York City (2020) texts that stated the
  consequence of missing court and prompted a plan cut failures to appear by 21 to 26%
  (Fishbane, Ouss & Shah, Science 370, 2020).
* job interview: the day before and 2 hours before.
* workshop, other: the day before.

`check_steps` refuses anything else, precisely; `due_times` turns steps into send times.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import AppointmentKind
from gateway.db import ReminderPlan
from gateway.db.base import utcnow
from gateway.localtime import zone

MAX_STEPS = 5
MAX_DAYS = 30
_BEFORE = re.compile(r"^([1-9][0-9]{0,3})([dhm])$")
_AT = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_UNIT_LIMIT = {"d": MAX_DAYS, "h": MAX_DAYS * 24, "m": MAX_DAYS * 24 * 60}

DAY_BEFORE: list[dict[str, Any]] = [{"before": "1d"}]
DEFAULT_PLANS: dict[AppointmentKind, list[dict[str, Any]]] = {
    AppointmentKind.OFFICE_VISIT: DAY_BEFORE,
    AppointmentKind.DRUG_TEST: DAY_BEFORE,
    AppointmentKind.GROUP_SESSION: DAY_BEFORE,
    AppointmentKind.COURT_HEARING: [{"before": "7d"}, {"before": "1d"}, {"days_before": 0, "at": "08:00"}],
    AppointmentKind.JOB_INTERVIEW: [{"before": "1d"}, {"before": "2h"}],
    AppointmentKind.WORKSHOP: DAY_BEFORE,
    AppointmentKind.OTHER: DAY_BEFORE,
}
SOURCES: dict[AppointmentKind, str] = {
    AppointmentKind.OFFICE_VISIT: "Arkansas 2021: a text the day before, 29% fewer missed visits",
    AppointmentKind.DRUG_TEST: "Arkansas 2021: a text the day before, 29% fewer missed visits",
    AppointmentKind.GROUP_SESSION: "Arkansas 2021: a text the day before, 29% fewer missed visits",
    AppointmentKind.COURT_HEARING: "New York City 2020: texts before court, 21-26% fewer failures to appear",
    AppointmentKind.JOB_INTERVIEW: "the day before, and 2 hours before to get there on time",
    AppointmentKind.WORKSHOP: "the day before",
    AppointmentKind.OTHER: "the day before",
}


class BadPlan(ValueError):
    """A plan that cannot be used as given; the message says which step and why."""


@dataclass(frozen=True)
class Step:
    """One checked step: `days` + `unit` before, or `days` before at `at` on the appointment's clock."""

    amount: int
    unit: str  # "d", "h", "m", or "at"
    at: time | None = None

    @property
    def name(self) -> str:
        """Its name in `notifications.appointment_step` after "reminder:", e.g. "1d", "2h", "0d@08:00"."""
        if self.at is not None:
            return f"{self.amount}d@{self.at:%H:%M}"
        return f"{self.amount}{self.unit}"

    def as_json(self) -> dict[str, Any]:
        if self.at is not None:
            return {"days_before": self.amount, "at": f"{self.at:%H:%M}"}
        return {"before": f"{self.amount}{self.unit}"}

    def due(self, starts_at: datetime, zone_name: str) -> datetime:
        """When this step falls due for an appointment at `starts_at` (UTC) on `zone_name`'s clock, in UTC.

        Days and fixed times are counted on the wall clock: a wall time skipped by a spring-forward
        change moves on by the gap (02:30 → 03:30), a repeated one means the first of the two."""
        if self.unit == "h":
            return starts_at - timedelta(hours=self.amount)
        if self.unit == "m":
            return starts_at - timedelta(minutes=self.amount)
        tz = zone(zone_name)
        local = starts_at.astimezone(tz)
        day = local.date() - timedelta(days=self.amount)
        wall = self.at if self.at is not None else local.time().replace(tzinfo=None)
        return datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)


def parse_step(raw: object, position: int) -> Step:
    """One step from its JSON form; BadPlan naming the step (1-based) and the problem."""
    where = f"step {position}"
    if not isinstance(raw, dict):
        raise BadPlan(f'{where}: must be {{"before": "1d"}} or {{"days_before": 0, "at": "08:00"}}')
    keys = set(raw)
    if keys == {"before"}:
        before = raw["before"]
        found = _BEFORE.match(before.strip().lower()) if isinstance(before, str) else None
        if found is None:
            raise BadPlan(f'{where}: "before" must be a number and d, h or m, e.g. "1d", "2h", "30m"; got {before!r}')
        amount, unit = int(found.group(1)), found.group(2)
        if amount > _UNIT_LIMIT[unit]:
            raise BadPlan(f"{where}: at most {MAX_DAYS} days before the appointment")
        return Step(amount, unit)
    if keys == {"days_before", "at"}:
        days, at = raw["days_before"], raw["at"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
            raise BadPlan(f'{where}: "days_before" must be a whole number from 0 to {MAX_DAYS}; got {days!r}')
        found = _AT.match(at.strip()) if isinstance(at, str) else None
        if found is None:
            raise BadPlan(f'{where}: "at" must be a 24-hour time such as "08:00"; got {at!r}')
        return Step(days, "at", time(int(found.group(1)), int(found.group(2))))
    extra = ", ".join(sorted(str(k) for k in keys)) or "nothing"
    raise BadPlan(f'{where}: give either "before" or "days_before" with "at" (got {extra})')


def check_steps(raw: object) -> list[Step]:
    """Every step checked, earliest first; BadPlan for a bad, repeated or missing step, or too many."""
    if not isinstance(raw, list) or not raw:
        raise BadPlan("a plan needs at least one step (turn it off instead to send no reminders)")
    if len(raw) > MAX_STEPS:
        raise BadPlan(f"a plan has at most {MAX_STEPS} steps; got {len(raw)}")
    steps = [parse_step(item, n) for n, item in enumerate(raw, start=1)]
    names = [s.name for s in steps]
    for name in names:
        if names.count(name) > 1:
            raise BadPlan(f"step {name} is given twice")
    return sorted(steps, key=_lead, reverse=True)


def _lead(step: Step) -> float:
    """How long before a midday start a step is (for ordering only)."""
    if step.at is not None:
        return step.amount * 86400 + 43200 - (step.at.hour * 3600 + step.at.minute * 60)
    return step.amount * {"d": 86400, "h": 3600, "m": 60}[step.unit]


def parse_steps_text(text: str) -> list[dict[str, Any]]:
    """Steps typed as text ("7d, 1d, 0d@08:00") in their JSON form (unchecked: `check_steps` does that)."""
    out: list[dict[str, Any]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        days, sep, at = part.partition("@")
        if sep:
            amount = days.strip().lower().removesuffix("d")
            out.append({"days_before": int(amount) if amount.isdigit() else amount, "at": at.strip()})
        else:
            out.append({"before": part})
    return out


def steps_text(steps: Sequence[Step]) -> str:
    """The plan as people type it: "7d, 1d, 0d@08:00"."""
    return ", ".join(s.name for s in steps)


def default_steps(kind: str) -> list[Step]:
    try:
        return check_steps(DEFAULT_PLANS[AppointmentKind(kind)])
    except ValueError:
        return check_steps(DAY_BEFORE)


@dataclass(frozen=True)
class Plan:
    """The steps a service uses for a kind (None: reminders turned off), and whether it is the default."""

    steps: list[Step] | None
    default: bool


async def plans_for(session: AsyncSession, pairs: Iterable[tuple[uuid.UUID, str]]) -> dict[tuple[uuid.UUID, str], Plan]:
    """The plan for each (service, kind): the service's row if it has one, else the default. One query."""
    wanted = set(pairs)
    rows = (
        await session.scalars(select(ReminderPlan).where(ReminderPlan.service_id.in_({s for s, _ in wanted})))
    ).all()
    stored = {(r.service_id, r.kind): r for r in rows}
    out: dict[tuple[uuid.UUID, str], Plan] = {}
    for service_id, kind in wanted:
        row = stored.get((service_id, kind))
        if row is None:
            out[(service_id, kind)] = Plan(default_steps(kind), True)
        elif not row.enabled:
            out[(service_id, kind)] = Plan(None, False)
        else:
            try:
                out[(service_id, kind)] = Plan(check_steps(row.steps), False)
            except BadPlan:  # a row edited by hand in the database: fall back rather than send nothing
                out[(service_id, kind)] = Plan(default_steps(kind), True)
    return out


async def save_plan(
    session: AsyncSession,
    service_id: uuid.UUID,
    kind: str,
    raw_steps: object,
    *,
    enabled: bool = True,
    staff_id: uuid.UUID | None = None,
) -> list[Step]:
    """Check and store a service's plan for a kind (in the caller's transaction); BadPlan stores nothing."""
    try:
        AppointmentKind(kind)
    except ValueError:
        raise BadPlan(f"{kind!r} is not a kind of appointment ({', '.join(AppointmentKind)})") from None
    steps = check_steps(raw_steps)
    row = await session.scalar(
        select(ReminderPlan).where(ReminderPlan.service_id == service_id, ReminderPlan.kind == kind)
    )
    if row is None:
        row = ReminderPlan(service_id=service_id, kind=kind)
        session.add(row)
    row.steps = [s.as_json() for s in steps]
    row.enabled = enabled
    row.updated_by_staff_id = staff_id
    row.updated_at = utcnow()
    await session.flush()
    return steps


async def reset_plan(session: AsyncSession, service_id: uuid.UUID, kind: str) -> bool:
    """Drop a service's own plan for a kind, so the default applies again; whether there was one."""
    row = await session.scalar(
        select(ReminderPlan).where(ReminderPlan.service_id == service_id, ReminderPlan.kind == kind)
    )
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True
