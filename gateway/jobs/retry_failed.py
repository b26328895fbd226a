"""`gateway notifications retry`: send again what failed, through the normal delivery path.

Which notifications: the ids given, or those in the statuses given (default: every failure status)
created in a time range, optionally of one service. Of those, only the ones no provider ever took are
re-queued: a notification with a provider reference was handed to Twilio or an SMTP relay, which may
have delivered it, and one whose claim was lost with its worker ("workers lost") may have been sent;
neither is ever sent again, and a delivered one is never matched at all. `--dry-run` counts first.

Re-queued rows go back to `created` as if new (attempts 0) with one guarded UPDATE
(`gateway.transitions.reopen_failed`): two retries at once re-queue each row once. In scaled mode they
are enqueued at once; in embedded mode the server's sweeper picks them up within a sweep interval.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Notification
from gateway.domain import NotificationStatus
from gateway.transitions import RETRYABLE_FAILURES, reopen_failed

WORKERS_LOST = "%(workers lost)"  # the sweeper's reason for a claim that died with its worker: may have been sent


@dataclass(frozen=True)
class RetryScope:
    ids: list[uuid.UUID]
    statuses: list[NotificationStatus]
    since: datetime | None = None
    until: datetime | None = None
    service_id: uuid.UUID | None = None


@dataclass(frozen=True)
class RetryCount:
    matched: int  # in the scope and failed
    retryable: int  # of those, never taken by a provider
    taken: int  # handed to a provider or lost mid-send: may have been delivered, never re-sent


def _scope(scope: RetryScope) -> list[ColumnElement[bool]]:
    statuses = [s.value for s in (scope.statuses or RETRYABLE_FAILURES)]
    where: list[ColumnElement[bool]] = [Notification.status.in_(statuses)]
    if scope.ids:
        where.append(Notification.id.in_(scope.ids))
    if scope.since is not None:
        where.append(Notification.created_at >= scope.since)
    if scope.until is not None:
        where.append(Notification.created_at < scope.until)
    if scope.service_id is not None:
        where.append(Notification.service_id == scope.service_id)
    return where


def _never_taken() -> list[ColumnElement[bool]]:
    return [
        Notification.provider_ref.is_(None),
        func.coalesce(Notification.failure_reason, "").not_like(WORKERS_LOST),
    ]


async def count_retry(session: AsyncSession, scope: RetryScope) -> RetryCount:
    where = _scope(scope)
    matched = int(await session.scalar(select(func.count()).where(*where)) or 0)
    retryable = int(await session.scalar(select(func.count()).where(*where, *_never_taken())) or 0)
    return RetryCount(matched, retryable, matched - retryable)


async def retry_failed(session: AsyncSession, scope: RetryScope) -> list[uuid.UUID]:
    """Re-queue the retryable notifications in `scope` (oldest first); the ids. The caller commits."""
    moved = await reopen_failed(session, [*_scope(scope), *_never_taken()], "re-queued by gateway notifications retry")
    if not moved:
        return []
    order = await session.execute(
        select(Notification.id).where(Notification.id.in_(moved)).order_by(Notification.created_at)
    )
    return [row[0] for row in order]
