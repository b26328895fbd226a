"""A broadcast's progress: counts over its notifications (one GROUP BY), the text progress bar for
`gateway broadcast status`, and the per-recipient report (CSV, every cell through `gateway.csv_safe`)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.crypto import Vault
from gateway.csv_safe import safe_cell
from gateway.db import Notification, Person
from gateway.domain import NotificationStatus

S = NotificationStatus
GROUPS = {
    S.CREATED.value: "queued",
    S.SENDING.value: "sent",
    S.PENDING.value: "sent",
    S.SENT.value: "sent",
    S.DELIVERED.value: "delivered",
    S.PERMANENT_FAILURE.value: "failed",
    S.TEMPORARY_FAILURE.value: "failed",
    S.TECHNICAL_FAILURE.value: "failed",
    S.CANCELLED.value: "cancelled",
}
LABELS = ("queued", "sent", "delivered", "failed", "cancelled")
FAILED = (S.PERMANENT_FAILURE.value, S.TEMPORARY_FAILURE.value, S.TECHNICAL_FAILURE.value)


async def counts(db: AsyncSession, broadcast_id: uuid.UUID) -> dict[str, int]:
    """queued / sent (handed to the provider, no receipt yet) / delivered / failed / cancelled, and total;
    and `quiet`: of the queued, those quiet hours hold until the recipient's window opens (back with the
    broadcast's pump, `gateway.jobs.prepare._quiet_hours`), so a broadcast still `sending` at night says why.
    One GROUP BY: the pump publishes these once a second while a broadcast sends."""
    n = Notification
    held = case(
        (and_(n.status == S.CREATED.value, n.quiet_until.is_not(None), n.next_attempt_at.is_(None)), 1), else_=0
    ).label("held")
    rows = await db.execute(
        select(n.status, held, func.count()).where(n.broadcast_id == broadcast_id).group_by(n.status, held)
    )
    out = dict.fromkeys((*LABELS, "quiet"), 0)
    for status, is_held, count in rows:
        out[GROUPS.get(str(status), "sent")] += int(count)
        out["quiet"] += int(count) if is_held else 0
    out["total"] = sum(out[label] for label in LABELS)
    return out


def bar(figures: dict[str, int], width: int = 40) -> str:
    """`[#####+++++.....] 12/30 queued 18 sent 5 delivered 7 failed 0 cancelled 0`: # delivered,
    + sent, x failed or cancelled, . queued."""
    total = max(1, figures.get("total", 0))
    parts = [
        ("#", figures["delivered"]),
        ("+", figures["sent"]),
        ("x", figures["failed"] + figures["cancelled"]),
    ]
    drawn = ""
    for mark, n in parts:
        drawn += mark * round(width * n / total)
    drawn = (drawn + "." * width)[:width]
    done = figures["total"] - figures["queued"]
    words = " ".join(f"{label} {figures[label]}" for label in LABELS)
    quiet = f" ({figures['quiet']} of them held for quiet hours)" if figures.get("quiet") else ""
    return f"[{drawn}] {done}/{figures['total']} {words}{quiet}"


REPORT_HEADER = (
    "recipient",
    "channel",
    "name",
    "status",
    "failure reason",
    "sent at",
    "completed at",
    "notification id",
)


async def report_lines(db: AsyncSession, vault: Vault, broadcast_id: uuid.UUID) -> AsyncIterator[str]:
    """The per-recipient report, a CSV line at a time (streamed: a 100,000-row broadcast is never held)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_HEADER)
    yield out.getvalue()
    stream = await db.stream(
        select(
            Notification.id,
            Notification.recipient_enc,
            Notification.channel,
            Person.display_name,
            Notification.status,
            Notification.failure_reason,
            Notification.sent_at,
            Notification.completed_at,
        )
        .outerjoin(Person, Person.id == Notification.person_id)
        .where(Notification.broadcast_id == broadcast_id)
        .order_by(Notification.id)
        .execution_options(yield_per=1000)
    )
    async for nid, recipient_enc, channel, name, status, reason, sent_at, completed_at in stream:
        out.seek(0)
        out.truncate()
        cells = (
            vault.open(recipient_enc),
            channel,
            name or "",
            status,
            reason or "",
            sent_at.isoformat() if sent_at else "",
            completed_at.isoformat() if completed_at else "",
            str(nid),
        )
        writer.writerow([safe_cell(c) for c in cells])
        yield out.getvalue()
