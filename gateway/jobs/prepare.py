"""Steps 1-3 of delivery for one notification or a batch: read, apply policy, claim; then the session closes.

All of it is one session and one transaction, whatever the number of notifications:

1. ONE query reads the rows with their services' sender settings. A row that is missing or not in
   `created` is left alone (jobs are safe to run twice); a retry that is not due yet is deferred.
2. Policy (`gateway.sendtime.policy`). An appointment's message reads its appointment again (ONE
   query, `gateway.appointments.sendcheck`): a stale reminder is `cancelled` and an email gets its
   `.ics`; claimed reminders open their "confirm or reschedule" question. ONE query finds the
   opted-out recipients, who fail at once (`permanent-failure`, "recipient opted out"), and TWO find
   the retired ones (a retired person, or an address known only as retired: "recipient retired"); a
   row whose sealed text cannot be opened fails as `technical-failure`. Then, per sender, ONE call
   gives all of that sender's messages their send slots under its rate limit; a row whose slot is
   later gets it written down (`rate_slot_at`) and is deferred to it, never failed, and takes no
   second token when it comes. Test keys and letters
   are not limited. Before that, per sender, ONE call asks its provider's circuit breaker
   (`gateway.jobs.breaker`) whether it may send: while the provider fails, its messages are held
   (`gateway.jobs.held`) and only the probe job sends, one message, the oldest.
3. ONE conditional UPDATE claims the rest (`created` -> `sending`, attempts + 1): of two jobs that
   race for a row only one gets it back, and only that one sends it.

Deferred rows keep their status (`created`), so nothing depends on the job that said "later":
`gateway.jobs.delivery` turns each deferral into a single-notification job due then, and the
sweeper enqueues any row that is due and was not picked up. (A broadcast's row that quiet hours
hold goes back to its broadcast's pump instead: `_quiet_hours`.)
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments.sendcheck import ask_questions, check_appointments
from gateway.channels import OutboundMessage
from gateway.crypto import Vault
from gateway.db import Notification, Service
from gateway.db.base import padded, utcnow
from gateway.db.write_lock import write_lock
from gateway.domain import Channel, KeyType, NotificationStatus
from gateway.jobs.breaker import BreakerState
from gateway.jobs.held import breaker_key, hold
from gateway.jobs.outcome import Verdict, announce_refusals, claim_many, refuse
from gateway.reply_address import make_reply_address
from gateway.sendtime import policy
from gateway.settings import Settings
from gateway.transitions import NOTIFICATIONS
from gateway.unsubscribe import unsubscribe_url
from gateway.webhooks.twilio_status import STATUS_PATH

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
S = NotificationStatus
UNREADABLE_REASON = "stored message cannot be opened"
# A message runs at its rate slot, give or take a busy queue; one that runs much later than that
# (after an outage, say) asks for a new slot, so a backlog of old slots does not go out in one burst.
SLOT_LAPSES_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Claimed:
    """A notification this job has claimed: send `message` (through the sandbox for a test key)."""

    notification: Notification
    message: OutboundMessage
    attempt: int
    test_key: bool
    breaker: str | None = None  # the provider and sender's breaker (None: sandbox, never paused)


@dataclass
class Prepared:
    claimed: list[Claimed] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)  # the rows not claimed, and why
    probes: dict[str, int] = field(default_factory=dict)  # breakers that held rows: when to probe (Unix ms)


@dataclass(frozen=True)
class _Candidate:
    notification: Notification
    message: OutboundMessage
    per_second: float | None  # the sender's rate limit; None: not limited
    breaker: str | None


def build_message(
    settings: Settings, vault: Vault, n: Notification, sender: str | None, reply_domain: str | None
) -> OutboundMessage:
    channel = Channel(n.channel)
    return OutboundMessage(
        notification_id=n.id,
        channel=channel,
        to=vault.open(n.recipient_enc),
        body=vault.open(n.body_enc),
        subject=vault.open_optional(n.subject_enc),
        sender=sender,
        reply_to=make_reply_address(vault, n.id, reply_domain) if channel is Channel.EMAIL and reply_domain else None,
        status_callback=settings.base_url + STATUS_PATH if channel is Channel.SMS else None,
        list_unsubscribe=(
            unsubscribe_url(settings.base_url, vault, n.id)
            if channel is Channel.EMAIL and n.one_click_unsubscribe
            else None
        ),
    )


async def prepare(ctx: JobContext, ids: Sequence[uuid.UUID], *, probe_for: str | None = None) -> Prepared:
    """Read, apply policy to and claim the notifications `ids`; see the module docstring. `probe_for`: the
    caller is the probe job of that breaker, which may send one message when the probe is due."""
    settings, vault = ctx["settings"], ctx["vault"]
    done = Prepared()
    refusals: list[tuple[Notification, NotificationStatus, str]] = []
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        rows = await session.execute(
            select(
                Notification,
                Service.sms_per_second,
                Service.messaging_service_sid,
                Service.email_reply_domain,
                Service.timezone,
                Service.quiet_hours,
            )
            .join(Service, Service.id == Notification.service_id)
            .where(Notification.id.in_(padded(ids)))
        )
        found = {row[0].id: row for row in rows}
        now = ctx["clock"].now()
        candidates: list[_Candidate] = []
        for nid in ids:
            if nid not in found:
                log.warning("delivery.missing", notification_id=str(nid))
                done.verdicts.append(Verdict(nid, "missing"))
                continue
            n, sms_per_second, messaging_service_sid, reply_domain, _, _ = found[nid]
            if n.status != S.CREATED:
                done.verdicts.append(Verdict(nid, f"skipped: {n.status}"))
            elif n.next_attempt_at is not None and n.next_attempt_at > now:
                done.verdicts.append(Verdict(nid, "not due", defer=(n.next_attempt_at - now).total_seconds()))
            else:
                channel = Channel(n.channel)
                sender = n.sender or (messaging_service_sid if channel is Channel.SMS else None)
                try:
                    message = build_message(settings, vault, n, sender, reply_domain)
                except Exception as exc:  # a row sealed with another key cannot be sent, now or later
                    log.error("delivery.unreadable", notification_id=str(nid), error=type(exc).__name__)
                    refusals.append((n, S.TECHNICAL_FAILURE, UNREADABLE_REASON))
                    continue
                test_key = n.key_type == KeyType.TEST.value
                rate = None if test_key else policy.sender_rate(settings, channel, sms_per_second)
                provider = ctx["senders"][channel].name if channel in ctx["senders"] else "sandbox"
                paused_by = None if test_key or provider == "sandbox" else breaker_key(provider, sender)
                candidates.append(_Candidate(n, message, rate, paused_by))
        addressees = [_addressee(c.notification) for c in candidates]
        opted_out = await policy.opted_out(session, addressees)
        retired = await policy.unsendable(session, addressees)
        allowed = []
        for c, addressee in zip(candidates, addressees, strict=True):
            if addressee in opted_out:
                refusals.append((c.notification, S.PERMANENT_FAILURE, policy.OPTED_OUT_REASON))
            elif addressee in retired:
                refusals.append((c.notification, S.PERMANENT_FAILURE, policy.RETIRED_REASON))
            else:
                allowed.append(c)
        allowed = await _appointments(session, allowed, now, refusals)
        allowed = await _quiet_hours(
            ctx, session, allowed, {nid: row[4:] for nid, row in found.items()}, done, refusals
        )
        allowed = await _admit(ctx, session, allowed, done, probe_for)
        sendable = await _take_slots(ctx, session, allowed, done.verdicts)
        refused = await refuse(session, refusals)
        attempts = await claim_many(session, [c.notification.id for c in sendable], due=now)
        await ask_questions(session, [c.notification for c in sendable if c.notification.id in attempts])
        await session.commit()
    for c in sendable:
        n = c.notification
        if n.id in attempts:
            done.claimed.append(Claimed(n, c.message, attempts[n.id], n.key_type == KeyType.TEST.value, c.breaker))
        else:
            done.verdicts.append(Verdict(n.id, "skipped: claimed by another job"))
    done.verdicts += [Verdict(n.id, str(status)) for n, status, _ in refusals]
    await announce_refusals(ctx, refused)
    return done


async def _appointments(
    session: AsyncSession,
    candidates: list[_Candidate],
    now: datetime,
    refusals: list[tuple[Notification, NotificationStatus, str]],
) -> list[_Candidate]:
    """The candidates whose appointment, read again now, still wants them (`gateway.appointments.sendcheck`);
    the stale ones are refused as `cancelled`. An email about an appointment gets its `.ics` invitation."""
    checked = await check_appointments(
        session, [(c.notification, c.message.to, c.message.sender) for c in candidates], now
    )
    going = []
    for c in candidates:
        nid = c.notification.id
        if nid in checked.stale:
            refusals.append((c.notification, S.CANCELLED, checked.stale[nid]))
        elif nid in checked.calendars:
            going.append(replace(c, message=replace(c.message, calendar=checked.calendars[nid])))
        else:
            going.append(c)
    return going


async def _quiet_hours(
    ctx: JobContext,
    session: AsyncSession,
    candidates: list[_Candidate],
    services: dict[uuid.UUID, tuple[str, str | None]],
    done: Prepared,
    refusals: list[tuple[Notification, NotificationStatus, str]],
) -> list[_Candidate]:
    """The candidates quiet hours let go now (`gateway.sendtime.policy.quiet_holds`). The others are
    deferred to their window's opening, in the caller's transaction, or, when that would be too late for
    them, refused as `cancelled`. A deferred row is due then (`next_attempt_at`: a job of its own waits for
    it) — unless it is a broadcast's: that goes back to its broadcast's pump (`next_attempt_at` NULL,
    `quiet_until` the opening), so a broadcast sent late in the evening is not thousands of jobs waiting
    overnight, a pause holds its texts, and the morning's go out at its pace (`gateway.broadcasts.pump`)."""
    checks = [
        policy.QuietCheck(
            n.id,
            n.person_id,
            c.message.to,
            *services[n.id],
            send_before=n.send_before,
            quiet=n.automatic and n.quiet_override is None and c.message.channel in policy.QUIET_CHANNELS,
        )
        for c in candidates
        if (n := c.notification).send_before is not None
        or (n.automatic and n.quiet_override is None and c.message.channel in policy.QUIET_CHANNELS)
    ]
    if not checks:
        return candidates
    now = ctx["clock"].now()
    holds = await policy.quiet_holds(session, checks, now)
    deferred, to_pump = [], []
    by_id = {c.notification.id: c.notification for c in candidates}
    for nid, opening in holds.items():
        if isinstance(opening, str):
            refusals.append((by_id[nid], S.CANCELLED, opening))
        elif by_id[nid].broadcast_id is not None:
            to_pump.append({"b_id": nid, "b_at": opening})
            done.verdicts.append(Verdict(nid, "quiet hours"))
        else:
            deferred.append({"b_id": nid, "b_at": opening})
            done.verdicts.append(Verdict(nid, "quiet hours", defer=(opening - now).total_seconds()))
    table = NOTIFICATIONS
    guard = (table.c.id == bindparam("b_id"), table.c.status == S.CREATED.value)
    if deferred:
        await session.execute(update(table).where(*guard).values(next_attempt_at=bindparam("b_at")), deferred)
    if to_pump:  # the pump's again: no longer due, nor held for a breaker, nor holding a rate slot
        await session.execute(
            update(table)
            .where(*guard)
            .values(quiet_until=bindparam("b_at"), next_attempt_at=None, held_for=None, rate_slot_at=None),
            to_pump,
        )
    return [c for c in candidates if c.notification.id not in holds]


def _addressee(n: Notification) -> policy.Addressee:
    return policy.Addressee(n.service_id, Channel(n.channel), n.recipient_index, n.sender, n.person_id)


async def _admit(
    ctx: JobContext, session: AsyncSession, candidates: list[_Candidate], done: Prepared, probe_for: str | None
) -> list[_Candidate]:
    """The candidates whose provider's breaker lets them go (one call per breaker); the others are held,
    in the caller's transaction, and the probe their breaker is waiting for is noted in `done.probes`.

    closed: all go. draining: released rows go (held for this breaker, `next_attempt_at` set), newer
    ones are held behind them. open or probing: all are held, except that the probe job, when the probe
    is due, sends the oldest."""
    by_breaker: dict[str, list[_Candidate]] = defaultdict(list)
    going = []
    for c in candidates:
        if c.breaker is None:
            going.append(c)
        else:
            by_breaker[c.breaker].append(c)
    for key, group in by_breaker.items():
        admission = await ctx["breaker"].admit(key, probe=key == probe_for)
        if admission.state is BreakerState.CLOSED:
            go = group
        elif admission.state is BreakerState.DRAINING:
            go = [c for c in group if c.notification.held_for == key and c.notification.next_attempt_at is not None]
        elif admission.probe:
            go = [min(group, key=lambda c: (c.notification.created_at, str(c.notification.id)))]
        else:
            go = []
        going += go
        sent = {c.notification.id for c in go}
        wait = [c.notification.id for c in group if c.notification.id not in sent]
        if wait:
            await hold(session, key, wait, draining=admission.state is BreakerState.DRAINING)
            done.verdicts += [Verdict(nid, "held") for nid in wait]
            if admission.state is not BreakerState.DRAINING:
                done.probes[key] = admission.probe_at_ms
    return going


async def _take_slots(
    ctx: JobContext, session: AsyncSession, candidates: list[_Candidate], verdicts: list[Verdict]
) -> list[_Candidate]:
    """The candidates that may be sent now: those holding a slot already, and those whose sender gives
    them one now (one call per sender). The others get their slot by their place in the sender's
    backlog: written to the row (`rate_slot_at`, due then) and deferred to it, in the caller's
    transaction. When that comes they take no second token (unless it lapsed: SLOT_LAPSES_AFTER)."""
    by_sender: dict[tuple[Channel, str, float], list[_Candidate]] = defaultdict(list)
    sendable = []
    now, slots = utcnow(), []
    for c in candidates:
        slot = c.notification.rate_slot_at
        if c.per_second is None or (slot is not None and now - slot <= SLOT_LAPSES_AFTER):
            sendable.append(c)
        else:  # no slot, or one that lapsed while the gateway was down or far behind: not a burst
            by_sender[(c.message.channel, c.message.sender or "", c.per_second)].append(c)
    for (channel, sender, rate), group in by_sender.items():
        delays = await policy.sender_slots(ctx["limiter"], channel, sender, rate, len(group))
        for c, delay in zip(group, delays, strict=True):
            if delay <= 0:
                sendable.append(c)
            else:
                slots.append({"b_id": c.notification.id, "b_slot": now + timedelta(seconds=delay)})
                verdicts.append(Verdict(c.notification.id, "rate limited", defer=delay))
    if slots:
        table = NOTIFICATIONS
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == S.CREATED.value)
            .values(rate_slot_at=bindparam("b_slot"), next_attempt_at=bindparam("b_slot")),
            slots,
        )
    return sendable
