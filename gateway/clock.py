"""The gateway's "now" for decisions that depend on the time: due reminders, quiet hours, escalation
windows, print cut-offs. Time is a parameter: the web app (`create_app(settings, clock=...)`), the job
context (`ctx["clock"]`) and the arq worker (`worker_settings(settings, clock=...)`) each hold one
`Clock`, so tests and benchmarks move time by hand instead of sleeping.

Timestamps that only record when something happened (`created_at`, audit entries) keep
`gateway.db.base.utcnow`; rate limits and leases measure real elapsed time and keep it too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from gateway.db.base import utcnow


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return utcnow()


class ManualClock:
    """A clock that moves only when told: `set(when)` or `advance(timedelta)`."""

    def __init__(self, start: datetime) -> None:
        self._now = self._aware(start)

    @staticmethod
    def _aware(when: datetime) -> datetime:
        if when.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        return when.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = self._aware(when)

    def advance(self, by: timedelta) -> datetime:
        self._now += by
        return self._now


SYSTEM_CLOCK = SystemClock()
