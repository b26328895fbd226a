"""What the delivery job writes: the claim, refusals at send time, and each send's outcome.

Every status it sets goes through `gateway.transitions`, guarded by the status (and attempt) it
expects, and the writes for a whole batch share one transaction: `claim_many` is ONE conditional
UPDATE, `record_outcomes` one `transition_each`. After the commit come the things that may fail
without undoing it: case record entries (kind OUTBOUND when a channel took the message, STATUS when
it failed for good; ids, channel, provider and status, never a body, an address or the provider's
error text), and `after_status_changes` (live push; the service's receipt callback for a final
status) for the statuses the job sets itself: `sent`, sandbox `delivered` and failures.

How a send's outcome maps to a status is in `gateway.jobs.delivery`'s docstring.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.channels import ProviderConfigError, SendResult
from gateway.db import Notification
from gateway.db.base import padded, utcnow
from gateway.db.write_lock import write_lock
from gateway.domain import NotificationStatus, RecordKind
from gateway.errors import ChannelError, ContentRefused
from gateway.jobs.breaker import BreakerState, Recorded
from gateway.jobs.receipts import after_status_changes
from gateway.record import append_entry
from gateway.settings import Settings
from gateway.transitions import EVENTS, NOTIFICATIONS, Change, transition_each, transition_many

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
S = NotificationStatus
ACTOR = "gateway:delivery"
NO_ANSWER_CODES = frozenset({"timeout", "connection", "unexpected"})
GIVE_BACK_SECONDS = 1.0


@dataclass(frozen=True)
class Verdict:
    """What became of one notification in a delivery job; `defer`: look at it again in that many seconds."""

    notification_id: uuid.UUID
    outcome: str
    defer: float | None = None


@dataclass(frozen=True)
class Sent:
    """One send's outcome: the channel's result, its error (`recipient` is cut out of error text), or
    None when it was never sent (no free send slot in time): then the claim is given back."""

    notification: Notification
    attempt: int
    result: SendResult | ChannelError | None
    recipient: str = ""
    breaker: str | None = None  # the provider and sender's breaker (gateway.jobs.breaker)
    started_at: datetime | None = None  # when the send was made (a send with no answer: `unsure_since`)
    found: bool = False  # `result` is what the provider took on an earlier unanswered send (gateway.jobs.unsure)


async def claim_many(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, due: datetime | None = None
) -> dict[uuid.UUID, int]:
    """`created` -> `sending` for every due row among `ids` in ONE conditional UPDATE, plus its events;
    the attempt number of each row claimed (the others are another job's, or not due). Caller commits.
    `due`: the job's clock (`ctx["clock"]`) for "is it due"; the claim itself is stamped with the real time."""
    if not ids:
        return {}
    now, table = utcnow(), NOTIFICATIONS
    due = due or now
    rows = await session.execute(
        update(table)
        .where(
            table.c.id.in_(padded(ids)),
            table.c.status == S.CREATED.value,
            table.c.next_attempt_at.is_(None) | (table.c.next_attempt_at <= due),
        )
        .values(
            status=S.SENDING.value, attempts=table.c.attempts + 1, claimed_at=now, updated_at=now, rate_slot_at=None
        )
        .returning(table.c.id, table.c.attempts)
    )
    claimed = {nid: int(attempt) for nid, attempt in rows}
    if claimed:
        events = [
            {"notification_id": nid, "status": S.SENDING.value, "at": now, "detail": f"attempt {attempt}"}
            for nid, attempt in claimed.items()
        ]
        await session.execute(insert(EVENTS), events)
    return claimed


async def claim(session: AsyncSession, notification_id: uuid.UUID) -> int | None:
    """Claim one row and commit; its attempt number, or None if another job has it (or it is not due)."""
    attempt = (await claim_many(session, [notification_id])).get(notification_id)
    await session.commit()
    return attempt


async def refuse(
    session: AsyncSession, refusals: Sequence[tuple[Notification, NotificationStatus, str]]
) -> list[tuple[Notification, NotificationStatus, str]]:
    """Fail `created` rows before any send (opted out, unreadable): one UPDATE per status and reason.
    Returns the refusals applied; the caller commits, then calls `announce_refusals`."""
    applied = []
    for status, reason in {(status, reason) for _, status, reason in refusals}:
        group = {n.id: n for n, s, r in refusals if (s, r) == (status, reason)}
        moved = await transition_many(
            session, [Notification.id.in_(group)], expected=S.CREATED, to=status, detail=reason, failure_reason=reason
        )
        applied += [(group[nid], status, reason) for nid, _ in moved]
    return applied


async def announce_refusals(ctx: JobContext, refused: Sequence[tuple[Notification, NotificationStatus, str]]) -> None:
    for n, status, _ in refused:
        log.info("delivery.failed", notification_id=str(n.id), status=str(status), attempt=None)
    await _after(ctx, [(n, status, _failure_entry(n, status, reason)) for n, status, reason in refused])


def retry_delay(settings: Settings, attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter (half to all of base * 2**(attempt-1), capped); at least Retry-After."""
    ceiling = min(settings.retry_backoff_max_seconds, settings.retry_backoff_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def final_failure(error: ChannelError) -> NotificationStatus:
    """The final status for an error that will not be retried (again)."""
    if isinstance(error, ProviderConfigError):
        return S.TECHNICAL_FAILURE
    if isinstance(error, ContentRefused):
        return S.VALIDATION_FAILED
    if not error.retryable:
        return S.PERMANENT_FAILURE
    return S.TECHNICAL_FAILURE if error.code in NO_ANSWER_CODES else S.TEMPORARY_FAILURE


def failure_reason(error: ChannelError, recipient: str) -> str:
    reason = (
        re.sub(re.escape(recipient), "<recipient>", error.reason, flags=re.IGNORECASE) if recipient else error.reason
    )
    return f"{error.code}: {reason}" if error.code else reason


async def count_breakers(ctx: JobContext, sends: Sequence[Sent]) -> dict[str, Recorded]:
    """Count the job's sends against each sender's breaker (one call per breaker): an answer from the
    provider (accepted, or refused for the message's own reasons) or a provider-wide failure."""
    answered: dict[str, int] = {}
    failed: dict[str, int] = {}
    retry_after: dict[str, float] = {}
    for sent in sends:
        key, result = sent.breaker, sent.result
        if key is None or result is None:
            continue
        if isinstance(result, ChannelError) and result.provider_wide:
            failed[key] = failed.get(key, 0) + 1
            retry_after[key] = max(retry_after.get(key, 0.0), result.retry_after or 0.0)
        else:
            answered[key] = answered.get(key, 0) + 1
    return {
        key: await ctx["breaker"].record(key, answered.get(key, 0), failed.get(key, 0), retry_after.get(key))
        for key in answered.keys() | failed.keys()
    }


def _change(settings: Settings, sent: Sent, breaker: Recorded | None = None) -> tuple[Change, float | None]:
    """The status change a send's outcome calls for, and the retry delay when it is a retry (0.0: held
    for its provider's breaker, no job of its own). A send that got no answer leaves `unsure_since`."""
    change, delay = _outcome_change(settings, sent, breaker)
    n, result = sent.notification, sent.result
    if isinstance(result, ChannelError) and result.code in NO_ANSWER_CODES and n.unsure_since is None:
        change = replace(change, values={**change.values, "unsure_since": sent.started_at or utcnow()})
    return change, delay


def _outcome_change(settings: Settings, sent: Sent, breaker: Recorded | None) -> tuple[Change, float | None]:
    n, attempt, result = sent.notification, sent.attempt, sent.result
    # A message released from its breaker's backlog (`gateway.jobs.held`) that did not get through while
    # the breaker drains goes back to the head of that backlog, not to a retry of its own: the next
    # release takes the oldest first, so the sender's acceptance order survives a timeout or a full slot.
    back_in_line = (
        breaker is not None
        and breaker.after is BreakerState.DRAINING
        and n.held_for is not None
        and n.held_for == sent.breaker
        and (result is None or (isinstance(result, ChannelError) and result.provider_wide))
    )
    if back_in_line:
        held: dict[str, object] = {"attempts": attempt - 1, "held_for": n.held_for}
        held |= {"next_attempt_at": None, "rate_slot_at": None}
        why = "no free send slot in time"
        if isinstance(result, ChannelError):
            held["waiting_since"] = n.waiting_since or utcnow()
            why = failure_reason(result, sent.recipient)
        return Change(n.id, attempt, S.SENDING, S.CREATED, f"held again, first in line: {why}", held), 0.0
    if result is None:  # not attempted after all: `created` again, with the attempt it had, due soon;
        # it keeps the send slot it was claimed in (no second token)
        soon = utcnow() + timedelta(seconds=GIVE_BACK_SECONDS)
        back = {"attempts": attempt - 1, "next_attempt_at": soon, "rate_slot_at": soon}
        detail = "not sent: no free send slot in time"
        return Change(n.id, attempt, S.SENDING, S.CREATED, detail, back), GIVE_BACK_SECONDS
    if isinstance(result, SendResult):
        values = {"provider": result.provider, "provider_ref": result.provider_ref, "sent_at": utcnow()}
        detail = f"accepted by {result.provider} ({result.provider_ref})"
        if sent.found:
            detail += ": found at the provider after a send that got no answer, not sent again"
        return Change(n.id, attempt, S.SENDING, result.status, detail, {**values, "next_attempt_at": None}), None
    reason = failure_reason(result, sent.recipient)
    if result.provider_wide:  # the provider's fault, not the message's: its attempt is given back
        since = {"attempts": attempt - 1, "waiting_since": n.waiting_since or utcnow()}
        if breaker is not None and breaker.after in (BreakerState.OPEN, BreakerState.PROBING):
            held = {**since, "held_for": sent.breaker, "next_attempt_at": None, "rate_slot_at": None}
            return Change(n.id, attempt, S.SENDING, S.CREATED, f"held, provider failing: {reason}", held), 0.0
        delay = retry_delay(settings, 1, result.retry_after)
        due = {**since, "next_attempt_at": utcnow() + timedelta(seconds=delay)}
        return Change(n.id, attempt, S.SENDING, S.CREATED, f"provider failed, retrying: {reason}", due), delay
    if result.retryable and attempt < settings.delivery_max_attempts:
        delay = retry_delay(settings, attempt, result.retry_after)
        due = {"next_attempt_at": utcnow() + timedelta(seconds=delay)}
        return Change(n.id, attempt, S.SENDING, S.CREATED, f"attempt {attempt} failed, retrying: {reason}", due), delay
    return Change(n.id, attempt, S.SENDING, final_failure(result), reason, {"failure_reason": reason}), None


async def record_outcomes(
    ctx: JobContext, sends: Sequence[Sent], breakers: dict[str, Recorded] | None = None
) -> list[Verdict]:
    """Record every send's outcome in one transaction, then case record entries and live pushes/receipts.
    `breakers`: the senders' breakers after `count_breakers`, which decide whether a provider-wide failure
    is held or retried."""
    breakers = breakers or {}
    planned = [
        (sent, *_change(ctx["settings"], sent, breakers.get(sent.breaker) if sent.breaker else None)) for sent in sends
    ]
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        applied = {c.notification_id for c in await transition_each(session, [change for _, change, _ in planned])}
        await session.commit()
    verdicts, after = [], []
    for sent, change, delay in planned:
        n = sent.notification
        if n.id not in applied:
            log.warning("delivery.claim_lost", notification_id=str(n.id), attempt=sent.attempt)
            verdicts.append(Verdict(n.id, "claim lost"))
        elif delay == 0.0:  # held for its breaker: released again in order, no job of its own
            verdicts.append(Verdict(n.id, "provider failed, held" if sent.result is not None else "held"))
        elif delay is not None:
            code = sent.result.code if isinstance(sent.result, ChannelError) else None
            outcome = "retry" if sent.result is not None else "given back"
            log.info(f"delivery.{outcome}", notification_id=str(n.id), attempt=sent.attempt, code=code)
            verdicts.append(Verdict(n.id, outcome, defer=delay))
        else:
            verdicts.append(Verdict(n.id, str(change.to)))
            after.append((n, change.to, _entry(sent, change)))
            if isinstance(sent.result, ChannelError):
                log.info("delivery.failed", notification_id=str(n.id), status=str(change.to), attempt=sent.attempt)
    await _after(ctx, after)
    return verdicts


async def record_sent(ctx: JobContext, n: Notification, attempt: int, result: SendResult) -> bool:
    """The channel took the message: `sending` (a receipt follows), `sent` or `delivered`."""
    [verdict] = await record_outcomes(ctx, [Sent(n, attempt, result)])
    return verdict.outcome != "claim lost"


Entry = tuple[RecordKind, str, dict[str, Any]]


def _entry(sent: Sent, change: Change) -> Entry:
    n, result = sent.notification, sent.result
    if isinstance(result, SendResult):
        data = {"status": str(result.status), "provider": result.provider, "provider_ref": result.provider_ref}
        return RecordKind.OUTBOUND, f"{n.channel} message sent via {result.provider}", {**data, "attempt": sent.attempt}
    return _failure_entry(n, change.to, change.detail or "")


def _failure_entry(n: Notification, status: NotificationStatus, reason: str) -> Entry:
    code = reason.split(":", 1)[0] if ":" in reason else None
    return RecordKind.STATUS, f"{n.channel} message {status}", {"status": str(status), "code": code}


async def _after(ctx: JobContext, done: Sequence[tuple[Notification, NotificationStatus, Entry]]) -> None:
    """Case record entries, then live pushes and receipts for the statuses a person sees change."""
    for n, _, (kind, summary, data) in done:
        if n.case_id is None:
            continue
        try:
            await append_entry(ctx["sessions"], n.case_id, kind, ACTOR, summary, data, notification_id=n.id)
        except Exception:  # the notification's own state is committed; a record failure must not resend it
            log.exception("delivery.record_failed", notification_id=str(n.id), case_id=str(n.case_id))
    changed = [(n, status) for n, status, _ in done if status is not S.SENDING]
    try:
        await after_status_changes(ctx, changed, record=False)
    except Exception:  # best effort, as the case record: the status is committed
        log.exception("delivery.after_status_failed", count=len(changed))
