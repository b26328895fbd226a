"""The hook between writing an appointment and its reminders.

Every write path (API, import, staff pages) calls `appointments_changed` in its own transaction after
it has changed (and flushed) the `Appointment` rows, with the `Change` it made to each: one call per
request, or per chunk of an import, so planning 100,000 appointments is a few bulk statements.

The reminders part plans, cancels and re-plans the reminder notifications here, and queues the
one-off messages (new time, cancelled, missed follow-up). It returns the ids of notifications the
caller must hand to delivery after commit (`gateway.jobs.delivery.enqueue_deliveries`), usually none:
planned reminders are found by the scheduler when they fall due.

The work is `gateway.appointments.planning.plan_changes` (read its docstring for the rules).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import Change
from gateway.appointments.planning import plan_changes
from gateway.crypto import Vault
from gateway.db import Appointment


async def appointments_changed(
    session: AsyncSession,
    vault: Vault,
    changes: Sequence[tuple[Appointment, Change]],
    *,
    now: datetime,
) -> list[uuid.UUID]:
    """Plan, cancel or re-plan each appointment's reminders after its change, in the caller's transaction."""
    return await plan_changes(session, vault, changes, now=now)
