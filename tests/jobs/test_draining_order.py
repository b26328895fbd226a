"""While a sender's breaker drains its backlog (`gateway.jobs.held`), a released message that does not get
through (the provider times out again, or no send slot was free in time) goes back to the head of the
backlog, not to a retry job of its own that would send it behind later batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gateway.db import Notification
from gateway.domain import NotificationStatus
from gateway.errors import ProviderUnavailable
from gateway.jobs.breaker import BreakerState, Recorded
from gateway.jobs.outcome import Sent, _change
from tests.conftest import test_settings as settings_for

S = NotificationStatus
KEY = "twilio:+15005550006"
WAITING = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
SETTINGS = settings_for("sqlite+aiosqlite://")


def released(held_for: str | None = KEY) -> Notification:
    """A message of the backlog, released for this batch (`next_attempt_at` set, still held for the key)."""
    return Notification(
        id=uuid.uuid4(), status="sending", held_for=held_for, next_attempt_at=WAITING, waiting_since=WAITING
    )


@pytest.mark.parametrize(
    "result", [ProviderUnavailable("Twilio did not answer within 0.5s", code="timeout"), None], ids=["timeout", "slot"]
)
def test_a_released_message_that_fails_while_draining_goes_back_to_the_head(result: object) -> None:
    n = released()
    change, delay = _change(
        SETTINGS, Sent(n, 2, result, "+12025550143", KEY), Recorded(BreakerState.DRAINING, BreakerState.DRAINING)
    )  # type: ignore[arg-type]
    assert delay == 0.0  # no job of its own: the next release takes it, oldest first
    assert (change.expected, change.to) == (S.SENDING, S.CREATED)
    assert change.values["held_for"] == KEY and change.values["next_attempt_at"] is None
    assert change.values["attempts"] == 1  # the provider's fault, or never sent: the attempt is given back
    assert change.detail is not None and change.detail.startswith("held again, first in line")


def test_a_message_of_no_backlog_still_retries_after_the_backoff() -> None:
    """Not released from a backlog (it never waited): the ordinary retry, as before."""
    error = ProviderUnavailable("Twilio did not answer within 0.5s", code="timeout")
    change, delay = _change(
        SETTINGS,
        Sent(released(None), 1, error, "+12025550143", KEY),
        Recorded(BreakerState.DRAINING, BreakerState.DRAINING),
    )
    assert delay is not None and delay > 0 and change.values["next_attempt_at"] is not None
    closed = Recorded(BreakerState.CLOSED, BreakerState.CLOSED)
    change, delay = _change(SETTINGS, Sent(released(), 1, error, "+12025550143", KEY), closed)
    assert delay is not None and delay > 0  # the backlog is done: nothing would release it again
