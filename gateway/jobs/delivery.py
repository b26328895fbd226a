"""The delivery jobs: `deliver_batch(ctx, *ids)` and `deliver_notification(ctx, id)`, one code path.

The web app hands the ids its intake writer commits to a `DeliveryBatcher`, which enqueues them as
`deliver_batch` jobs (up to GATEWAY_DELIVERY_BATCH_SIZE ids a job, job id `deliver-batch:{first id}`),
a job when one is full or GATEWAY_DELIVERY_BATCH_WAIT_SECONDS after its first id: a message costs a
share of one job and a few statements rather than a job and three transactions of its own. Retries,
the sweeper and other callers (auto-replies) enqueue `deliver_notification` (`deliver:{id}`).
Both run `deliver(ctx, ids)`:

1-3. `gateway.jobs.prepare`: read, policy (opt-out, per-sender rate), claim with ONE conditional
   UPDATE; one session, closed before anything is sent.
4. Send the claimed messages concurrently, with no database session open, each through one of the
   process's GATEWAY_DELIVERY_CONCURRENCY send slots; one that finds no free slot in time is given
   back unsent (`send_all`). Test-key notifications always use the sandbox senders. A message whose
   earlier send got no answer (`unsure_since`) is first looked for at the provider, and recorded
   rather than sent again if it took it (`gateway.jobs.unsure`).
5. `gateway.jobs.outcome.record_outcomes`: every outcome in ONE transaction, each guarded by status
   and attempt number; then case record entries and live pushes / receipt callbacks.
6. The senders' circuit breakers (`gateway.jobs.breaker`): the sends are counted against them first
   (one call per sender); then `resume_sender` releases the next batch of a sender whose provider is
   back, and a sender that just paused gets its probe job (`probe_sender`, due when the probe is).

A notification that must wait (rate limit, a retry's backoff, not due yet) stays `created` with its
due time: `deliver_notification` raises arq's `Retry(defer=...)` for it, `deliver_batch` enqueues a
`deliver_notification` for it due then. Either way the sweeper picks it up if that enqueue is lost.

Outcomes:

| the channel...                  | the notification becomes                                          |
| accepted it (Twilio)            | `sending` with provider and provider_ref; the status callback decides the rest |
| accepted it (SMTP)              | `sent` (SMTP gives no receipt); sandbox: `delivered`             |
| raised `ProviderUnavailable`    | `created` again, the attempt given back (the provider's fault, not the message's):|
| (5xx, 429, timeout, connection) | held for the sender's breaker if it is open, else due after the base backoff;   |
|                                 | `temporary-failure` only once it has waited GATEWAY_SENDING_TIMEOUT_SECONDS      |
| raised `RetryableError`         | `created` again with `next_attempt_at`, due again after exponential backoff     |
|                                 | with jitter, or the provider's Retry-After if longer                            |
| ... on the last allowed attempt | `technical-failure` if the provider never answered (timeout, connection, a bug) |
|                                 | (a bug); `temporary-failure` if it answered "not now" about this recipient      |
|                                 | (SMTP 4xx to RCPT) — the recipient may well be reachable later                  |
| raised `PermanentError`         | `permanent-failure` at once; failure_reason = "code: reason"      |
| raised `ProviderConfigError`    | `technical-failure` at once: our account or sender setting is wrong |

Failure reasons have the recipient's address cut out (Twilio's messages quote the number).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import structlog
from arq.worker import Retry

from gateway.db.base import utcnow
from gateway.errors import ChannelError
from gateway.jobs.breaker import BreakerState, Recorded
from gateway.jobs.held import oldest_held, release_next, schedule_probe
from gateway.jobs.outcome import Sent, Verdict, count_breakers, record_outcomes
from gateway.jobs.prepare import Claimed, prepare
from gateway.jobs.queue import is_priority
from gateway.jobs.unsure import taken_already
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext
    from gateway.jobs.queue import JobQueue

log = structlog.get_logger()

DELIVER = "deliver_notification"
DELIVER_BATCH = "deliver_batch"
ENQUEUE_TIMEOUT_SECONDS = 5.0


def delivery_job_id(notification_id: uuid.UUID | str) -> str:
    return f"deliver:{notification_id}"


async def enqueue_deliveries(
    queue: JobQueue, ids: Sequence[uuid.UUID], *, defer_by: Mapping[uuid.UUID, float] | None = None
) -> None:
    """Enqueue `deliver:{id}` for each id (after `defer_by[id]` seconds if given), concurrently."""
    defer_by = defer_by or {}
    await _enqueue_all(
        (queue.enqueue(DELIVER, str(i), job_id=delivery_job_id(i), defer_by=defer_by.get(i)) for i in ids), len(ids)
    )


async def enqueue_delivery_batches(queue: JobQueue, ids: Sequence[uuid.UUID], batch_size: int) -> None:
    """Enqueue `deliver_batch` jobs for `ids`, `batch_size` ids a job (`deliver-batch:{first id}`)."""
    batches = [[str(i) for i in ids[at : at + batch_size]] for at in range(0, len(ids), batch_size)]
    await _enqueue_all(
        (queue.enqueue(DELIVER_BATCH, *batch, job_id=f"deliver-batch:{batch[0]}") for batch in batches), len(ids)
    )


class DeliveryBatcher:
    """Gathers the ids the API commits into `deliver_batch` jobs: a job as soon as `size` ids are waiting,
    else `wait` seconds after the first of them (0: a job per commit). The intake writer commits in
    groups only while requests overlap, so at a steady 200 a second most commits hold one row: without
    the wait each message would cost a job and two transactions of its own, five times the CPU of a
    message in a job of 40. Ids still waiting when the process dies were committed, so the sweeper
    enqueues them."""

    def __init__(self, queue: JobQueue, size: int, wait: float) -> None:
        self._queue, self._size, self._wait = queue, size, wait
        self._ids: list[uuid.UUID] = []
        self._timer: asyncio.Task[None] | None = None

    async def add(self, ids: Sequence[uuid.UUID]) -> None:
        """Take committed ids; enqueue every full batch now, the rest when the wait is over."""
        self._ids += ids
        ready = len(self._ids) if self._wait <= 0 else len(self._ids) - len(self._ids) % self._size
        if ready:
            batch, self._ids = self._ids[:ready], self._ids[ready:]
            await enqueue_delivery_batches(self._queue, batch, self._size)
        if self._ids and self._timer is None:
            self._timer = asyncio.create_task(self._after_wait(), name="delivery-batcher")

    async def _after_wait(self) -> None:
        await asyncio.sleep(self._wait)
        self._timer = None
        await self.flush()

    async def flush(self) -> None:
        """Enqueue whatever is waiting."""
        batch, self._ids = self._ids, []
        await enqueue_delivery_batches(self._queue, batch, self._size)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.flush()


async def _enqueue_all(calls: Iterable[Awaitable[bool]], count: int) -> None:
    """Await the enqueues. Failures are logged, not raised: the rows are committed, and the sweeper
    enqueues whatever stays in `created`."""
    pending = list(calls)
    if not pending:
        return
    try:
        async with asyncio.timeout(ENQUEUE_TIMEOUT_SECONDS):
            results = await asyncio.gather(*pending, return_exceptions=True)
    except TimeoutError:
        log.warning("delivery.enqueue_failed", count=count, error="TimeoutError")
        return
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        log.warning("delivery.enqueue_failed", jobs=len(failed), of=len(pending), error=type(failed[0]).__name__)


def send_window(settings: Settings) -> float:
    """How long a claimed message may wait for a send slot: half the job timeout (or the sending lease,
    if shorter), which leaves the other half for the send itself (a provider's timeout) and the record."""
    return min(settings.job_timeout_seconds, settings.sending_lease) / 2


async def send_all(ctx: JobContext, claimed: Sequence[Claimed], window: float) -> list[Sent]:
    """Send every claimed message, each through one of the process's send slots (`ctx["send_slots"]`,
    GATEWAY_DELIVERY_CONCURRENCY, shared by all jobs); each result or error, in order. A message that
    gets no slot within `window` seconds is not sent (result None) and its claim is given back, so no
    claim outlives its job or its lease (the sweeper would hand it to another job: a second send)."""
    slots, priority = ctx["send_slots"], is_priority(ctx)  # a priority-lane job's sends take free slots first
    deadline = asyncio.get_running_loop().time() + window

    async def send(c: Claimed) -> Sent:
        try:
            async with asyncio.timeout_at(deadline):
                await slots.acquire(priority)
        except TimeoutError:
            return Sent(c.notification, c.attempt, None)
        sender = (ctx["sandbox"] if c.test_key else ctx["senders"])[c.message.channel]
        started = utcnow()
        try:
            found = await taken_already(ctx, sender, c)  # an earlier send got no answer: did it go?
            result = found or await sender.send(c.message)
        except ChannelError as error:
            return Sent(c.notification, c.attempt, error, c.message.to, c.breaker, started)
        finally:
            slots.release()
        return Sent(c.notification, c.attempt, result, c.message.to, c.breaker, started, found is not None)

    return list(await asyncio.gather(*(send(c) for c in claimed)))


async def deliver(ctx: JobContext, ids: Sequence[uuid.UUID], *, probe_for: str | None = None) -> list[Verdict]:
    """Steps 1-6 for the notifications `ids`: what became of each (in no particular order)."""
    prepared = await prepare(ctx, ids, probe_for=probe_for)
    for key, probe_at_ms in prepared.probes.items():
        await schedule_probe(ctx["queue"], key, probe_at_ms)
    if not prepared.claimed:
        return prepared.verdicts
    sends = await send_all(ctx, prepared.claimed, send_window(ctx["settings"]))
    breakers = await count_breakers(ctx, sends)
    verdicts = prepared.verdicts + await record_outcomes(ctx, sends, breakers)
    released = {c.breaker for c in prepared.claimed if c.breaker and c.notification.held_for == c.breaker}
    for key, recorded in breakers.items():
        await _after_breaker(ctx, key, recorded, key in released)
    return verdicts


async def _after_breaker(ctx: JobContext, key: str, recorded: Recorded, had_held: bool) -> None:
    """Log a breaker's change (provider and sender only); probe a paused sender; resume a recovered one,
    or one that sent messages it had held (a batch at a time, so the next goes when this one is done)."""
    provider, _, sender = key.partition(":")
    if recorded.before is not recorded.after:
        event = {BreakerState.OPEN: "paused", BreakerState.DRAINING: "recovered"}.get(recorded.after, "changed")
        log.warning(
            f"breaker.{event}",
            provider=provider,
            sender=sender,
            state=str(recorded.after),
            was=str(recorded.before),
            failures=recorded.failures,
        )
    if recorded.after is BreakerState.OPEN and recorded.before is not BreakerState.OPEN:
        await schedule_probe(ctx["queue"], key, recorded.probe_at_ms)
    elif recorded.after is BreakerState.DRAINING or (recorded.after is BreakerState.CLOSED and had_held):
        await resume_sender(ctx, key)


async def resume_sender(ctx: JobContext, key: str) -> int:
    """Hand the next batch of messages held for `key` to delivery, oldest first (one `deliver_batch`);
    when none is left the breaker closes. How many were released."""
    settings = ctx["settings"]
    ids = await release_next(ctx, key, settings.delivery_batch_size)
    if ids:
        await enqueue_delivery_batches(ctx["queue"], ids, settings.delivery_batch_size)
    elif await ctx["breaker"].drained(key):
        provider, _, sender = key.partition(":")
        log.warning("breaker.closed", provider=provider, sender=sender, state=str(BreakerState.CLOSED))
    return len(ids)


async def probe_sender(ctx: JobContext, key: str) -> str:
    """The probe of a paused sender: send its oldest held message, alone. Enqueued by whoever held a
    message or saw the breaker open (job id `probe:{key}:{due ms}`, so one a pause), and by the sweeper."""
    notification_id = await oldest_held(ctx, key)
    if notification_id is None:
        await resume_sender(ctx, key)  # nothing held: let a draining breaker close
        return "nothing held"
    [verdict] = await deliver(ctx, [notification_id], probe_for=key)
    if verdict.defer is not None:  # it must wait (its rate slot, a retry): a job of its own, due then
        await enqueue_deliveries(ctx["queue"], [notification_id], defer_by={notification_id: verdict.defer})
    elif verdict.outcome == "held":  # the probe is not due yet by the breaker's clock (a little skew): soon
        raise Retry(defer=min(1.0, ctx["settings"].breaker_probe_seconds))
    return verdict.outcome


async def deliver_notification(ctx: JobContext, notification_id: str) -> str:
    """Send notification `notification_id` if it is waiting to be sent; arq `Retry` when it must wait."""
    [verdict] = await deliver(ctx, [uuid.UUID(notification_id)])
    if verdict.defer is not None:
        raise Retry(defer=verdict.defer)
    return verdict.outcome


async def deliver_batch(ctx: JobContext, *notification_ids: str) -> str:
    """Send the notifications `notification_ids`; those that must wait get a `deliver_notification` job
    due when they are. Returns a count of outcomes, e.g. "sending=99 permanent-failure=1"."""
    verdicts = await deliver(ctx, [uuid.UUID(i) for i in dict.fromkeys(notification_ids)])
    later = {v.notification_id: v.defer for v in verdicts if v.defer is not None}
    await enqueue_deliveries(ctx["queue"], list(later), defer_by=later)
    return " ".join(f"{outcome}={count}" for outcome, count in sorted(Counter(v.outcome for v in verdicts).items()))
