"""The hook between writing an appointment and its reminders.

Every write path (API, import, staff pages) calls `appointment_changed` in its own transaction after
it has changed the `Appointment` row, with the `Change` it made. The reminders part plans, cancels
and re-plans the appointment's reminder notifications here, and queues the one-off messages (new
time, cancelled, missed follow-up). It returns the ids of notifications the caller must hand to
delivery after commit (`gateway.jobs.delivery.enqueue_deliveries`), usually none: planned reminders
are found by the scheduler when they fall due.

STUB (foundation commit): plans nothing yet; the reminders work fills it in.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.appointments import Change
from gateway.crypto import Vault
from gateway.db import Appointment


async def appointment_changed(
    session: AsyncSession,
    vault: Vault,
    appointment: Appointment,
    change: Change,
    *,
    now: datetime,
) -> list[uuid.UUID]:
    """Plan, cancel or re-plan `appointment`'s reminders after `change`, in the caller's transaction."""
    return []
