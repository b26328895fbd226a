"""Out of office: whether a member of staff is away at a time, and who covers for them.

An absence is `away_from` (inclusive) to `away_until` (exclusive), both UTC instants; the settings
page takes whole days on the service's clock and stores the start of the first day and the start
of the day after the last. The clock is the caller's (the inbound message's received time, or a
test's), never read here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Service, StaffUser
from gateway.victim_access import can_see_victim_data


def is_away(staff: StaffUser, at: datetime) -> bool:
    """Whether `staff` has an absence covering the instant `at`."""
    return staff.away_from is not None and staff.away_until is not None and staff.away_from <= at < staff.away_until


async def covering_officer(
    session: AsyncSession, staff: StaffUser, service: Service, at: datetime, *, victim: bool
) -> StaffUser | None:
    """The colleague whose inbox gets `staff`'s replies while they are away at `at`, if one may.

    None when `staff` is not away, names no one, or the colleague is inactive, of another service,
    away too, or may not see victim data and the message is a victim's.
    """
    if not is_away(staff, at) or staff.covering_staff_id is None:
        return None
    cover = await session.get(StaffUser, staff.covering_staff_id)
    if cover is None or not cover.active or cover.service_id != service.id or cover.id == staff.id:
        return None
    if is_away(cover, at):
        return None
    if victim and not can_see_victim_data(cover, service):
        return None
    return cover
