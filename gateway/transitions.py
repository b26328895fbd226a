"""The one way a notification's status changes: a guarded UPDATE plus a `NotificationEvent` row.

Every status change names the status it expects to find (`expected`, never a final one), so a
final status can never change again and two writers cannot both move the same row: whoever's
UPDATE matches first wins, the other sees `False` (or an empty list) and backs off. A delivery
attempt also names its attempt number, so a worker whose claim was taken back by the sweeper
cannot overwrite the outcome of the attempt that replaced it.

Three shapes, one rule: `transition` moves one row, `transition_many` moves every row matching a
condition to the same values (both one UPDATE ... RETURNING), and `transition_each` applies a batch
of `Change`s that each carry their own values (a delivery batch's outcomes: one provider reference
per row) in a few statements whatever the batch size: one guarded executemany UPDATE per set of
columns, one SELECT by primary key to learn which rows it moved, one insert of all the events.

One exception, for an operator only: `reopen_failed` (`gateway notifications retry`) puts failed
notifications that no provider ever took back to `created`.

The caller owns the transaction (commit after). Event `detail`s say what happened in words and
ids: never message bodies or contact details.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Notification, NotificationEvent
from gateway.db.base import padded, utcnow
from gateway.domain import NotificationStatus

# The tables, for Core statements: a list of parameters is then one executemany, and the ORM's
# per-statement work is skipped on the delivery job's hot path.
NOTIFICATIONS = cast(Table, Notification.__table__)
EVENTS = cast(Table, NotificationEvent.__table__)


def _guarded(
    expected: NotificationStatus, to: NotificationStatus, values: dict[str, Any], now: datetime | None = None
) -> dict[str, Any]:
    if expected.is_final:
        raise ValueError(f"a notification in final status {expected} never changes")
    now = now or utcnow()
    if to.is_final:
        values.setdefault("completed_at", now)
    return {"status": to.value, "updated_at": now, **values}


async def transition(
    session: AsyncSession,
    notification_id: uuid.UUID,
    *,
    expected: NotificationStatus,
    to: NotificationStatus,
    detail: str | None = None,
    attempt: int | None = None,
    **values: Any,
) -> bool:
    """Move one notification from `expected` to `to` (and set `values`); False if it was not there."""
    found = await transition_many(
        session,
        [Notification.id == notification_id, *([Notification.attempts == attempt] if attempt is not None else [])],
        expected=expected,
        to=to,
        detail=detail,
        **values,
    )
    return bool(found)


async def transition_many(
    session: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    *,
    expected: NotificationStatus,
    to: NotificationStatus,
    detail: str | None = None,
    **values: Any,
) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """Move every notification in `expected` matching `where` to `to`; returns (id, case_id) of each."""
    changes = _guarded(expected, to, values)
    rows = (
        await session.execute(
            update(Notification)
            .where(Notification.status == expected.value, *where)
            .values(**changes)
            .returning(Notification.id, Notification.case_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    moved = [(row[0], row[1]) for row in rows]
    if moved:
        at = changes["updated_at"]
        events = [{"notification_id": nid, "status": to.value, "at": at, "detail": detail} for nid, _ in moved]
        await session.execute(insert(EVENTS), events)
    return moved


@dataclass(frozen=True)
class Change:
    """One notification's move at delivery attempt `attempt`, from `expected` to `to`, with its own values."""

    notification_id: uuid.UUID
    attempt: int
    expected: NotificationStatus
    to: NotificationStatus
    detail: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)


async def transition_each(session: AsyncSession, changes: Sequence[Change]) -> list[Change]:
    """Apply each change (one per notification) if its row is still at its expected status and attempt;
    returns the changes applied.

    One executemany UPDATE per set of columns, every row guarded by status and attempt and stamped with
    the same `updated_at`; then one SELECT by primary key says which rows carry that stamp with their
    new status and attempt. A row this transaction updated stays locked until the caller commits (a
    row lock on PostgreSQL, the write lock on SQLite), so what the SELECT sees of it is what we wrote;
    a row someone else holds shows their stamp, not ours. Then one insert of all the events.
    """
    if not changes:
        return []
    if len(changes) == 1:  # one row: the RETURNING of its guarded UPDATE says whether it moved
        c = changes[0]
        moved = await transition(
            session, c.notification_id, expected=c.expected, to=c.to, detail=c.detail, attempt=c.attempt, **c.values
        )
        return [c] if moved else []
    table = NOTIFICATIONS
    now = utcnow()
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for c in changes:
        values = _guarded(c.expected, c.to, dict(c.values), now)
        guard = {"b_id": c.notification_id, "b_expected": c.expected.value, "b_attempt": c.attempt}
        shapes.setdefault(tuple(sorted(values)), []).append(guard | {f"v_{k}": v for k, v in values.items()})
    for columns, params in shapes.items():
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("b_id"),
                table.c.status == bindparam("b_expected"),
                table.c.attempts == bindparam("b_attempt"),
            )
            .values({column: bindparam(f"v_{column}") for column in columns})
        )
        await session.execute(statement, params)
    wanted = {c.notification_id: (c.to.value, c.values.get("attempts", c.attempt), now) for c in changes}
    rows = await session.execute(
        select(table.c.id, table.c.status, table.c.attempts, table.c.updated_at).where(table.c.id.in_(padded(wanted)))
    )
    landed = {nid for nid, status, attempts, at in rows if wanted[nid] == (status, attempts, at)}
    applied = [c for c in changes if c.notification_id in landed]
    if applied:
        events = [
            {"notification_id": c.notification_id, "status": c.to.value, "at": now, "detail": c.detail} for c in applied
        ]
        await session.execute(insert(EVENTS), events)
    return applied


RETRYABLE_FAILURES = (
    NotificationStatus.TEMPORARY_FAILURE,
    NotificationStatus.TECHNICAL_FAILURE,
    NotificationStatus.PERMANENT_FAILURE,
)


async def reopen_failed(session: AsyncSession, where: Sequence[ColumnElement[bool]], detail: str) -> list[uuid.UUID]:
    """The one exception to "a final status never changes": an operator's retry (`gateway notifications
    retry`) moves failed notifications that no provider ever took (no provider reference) back to
    `created`, as if new, in ONE guarded UPDATE; the ids moved. A notification that was delivered, or
    handed to a provider (which may have delivered it), is never matched. The caller commits."""
    failed = [s.value for s in RETRYABLE_FAILURES]
    now = utcnow()
    rows = await session.execute(
        update(Notification)
        .where(Notification.status.in_(failed), Notification.provider_ref.is_(None), *where)
        .values(
            status=NotificationStatus.CREATED.value,
            updated_at=now,
            attempts=0,
            failure_reason=None,
            completed_at=None,
            claimed_at=None,
            next_attempt_at=None,
            rate_slot_at=None,
            held_for=None,
            waiting_since=None,
        )
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    moved = [row[0] for row in rows]
    if moved:
        status = NotificationStatus.CREATED.value
        events = [{"notification_id": nid, "status": status, "at": now, "detail": detail} for nid in moved]
        await session.execute(insert(EVENTS), events)
    return moved
