"""Every job function by name: the arq worker and the in-process queue both run exactly these.

To add a job: write `async def my_job(ctx: JobContext, some_id: str) -> str` in its own module
under `gateway/jobs/`, add a `JobSpec` line below, and enqueue it by name through the `JobQueue`
(`ctx["queue"]` in a job, `app[keys.QUEUE]` in the web app) with a deterministic `job_id`.

`max_tries` counts arq tries, and `deliver_notification` also uses a try whenever it defers for the
rate limit, so its value is generous: how often a *send* is tried is GATEWAY_DELIVERY_MAX_ATTEMPTS,
counted in the database (`notifications.attempts`). `deliver_batch` never defers itself (what must
wait becomes a `deliver_notification`), so a few tries cover a worker killed mid-job. A job that
runs out of arq tries leaves its rows as they were, and the sweeper enqueues them again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway.appointments.scheduler import SEND_DUE, send_due_scheduled
from gateway.broadcasts.pump import PUMP, pump_broadcast
from gateway.broadcasts.takeover import WRITE, take_over_write
from gateway.inbound.callbacks import MAX_TRIES as MAX_CALLBACK_TRIES
from gateway.inbound.jobs import process_inbound, send_inbound_callback
from gateway.jobs.delivery import DELIVER, DELIVER_BATCH, deliver_batch, deliver_notification, probe_sender
from gateway.jobs.held import PROBE_SENDER
from gateway.jobs.receipts import (
    APPLY_SMS_STATUS,
    RECEIPT_MAX_TRIES,
    SEND_DELIVERY_RECEIPT,
    UNMATCHED_MAX_TRIES,
    apply_sms_status,
    send_delivery_receipt,
)
from gateway.jobs.sweeper import sweep
from gateway.letters.callback import MAX_TRIES as RETURNED_LETTER_MAX_TRIES
from gateway.letters.callback import SEND_RETURNED_LETTER, send_returned_letter_callback
from gateway.victims.alerts import ALERT as VICTIMS_ALERT
from gateway.victims.alerts import send_alert as victims_alert
from gateway.victims.events import FAN_OUT as VICTIMS_FAN_OUT
from gateway.victims.fanout import fan_out as victims_fan_out
from gateway.victims.voice import CALL as VICTIMS_CALL
from gateway.victims.voice import place_call as victims_call

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class JobSpec:
    """A job: the name it is enqueued by, its coroutine `(ctx, *args)`, and how often arq may try it."""

    name: str
    function: JobFunction
    max_tries: int = 5
    timeout: float | None = None  # None: GATEWAY_JOB_TIMEOUT_SECONDS


JOBS: tuple[JobSpec, ...] = (
    JobSpec(DELIVER, deliver_notification, max_tries=1000),
    JobSpec(DELIVER_BATCH, deliver_batch, max_tries=3),  # what must wait becomes a deliver_notification
    JobSpec(PROBE_SENDER, probe_sender, max_tries=50),  # tries again only when it came a little early
    JobSpec("sweep", sweep, max_tries=1),
    JobSpec(SEND_DUE, send_due_scheduled, max_tries=1),  # due reminders and scheduled messages, every minute
    JobSpec(PUMP, pump_broadcast, max_tries=3),  # a broadcast's pump tick (gateway.broadcasts.pump)
    JobSpec(WRITE, take_over_write, max_tries=3),  # a broadcast's writing, resumed (gateway.broadcasts.takeover)
    JobSpec("process_inbound", process_inbound, max_tries=5),
    JobSpec(SEND_DELIVERY_RECEIPT, send_delivery_receipt, max_tries=RECEIPT_MAX_TRIES),
    JobSpec(APPLY_SMS_STATUS, apply_sms_status, max_tries=UNMATCHED_MAX_TRIES),
    JobSpec("send_inbound_callback", send_inbound_callback, max_tries=MAX_CALLBACK_TRIES),
    JobSpec(SEND_RETURNED_LETTER, send_returned_letter_callback, max_tries=RETURNED_LETTER_MAX_TRIES),
    # victim notification (gateway.victims): fan-out and calls on the priority lane; staff alerts
    JobSpec(VICTIMS_FAN_OUT, victims_fan_out, max_tries=5),
    JobSpec(VICTIMS_CALL, victims_call, max_tries=3),
    JobSpec(VICTIMS_ALERT, victims_alert, max_tries=5),
)


def jobs_by_name() -> dict[str, JobSpec]:
    return {spec.name: spec for spec in JOBS}
