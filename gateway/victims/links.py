"""Which offender-facing services a victim-services unit follows: set by the operator, checked everywhere.

`gateway service update VSU_ID --follows OTHER_ID` (and `--unfollows`) writes a `VictimServiceLink`.
A registration may only name cases of followed services, and the fan-out only reaches registrations
whose unit still follows the service that posted the event. Only a victim-services service may
follow, and only a service that is not victim services may be followed: victim data never moves
between two units, and an offender-facing service never learns which unit follows it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import Service, VictimServiceLink
from gateway.domain import ServiceKind


class LinkError(ValueError):
    """A link that cannot be made; the message says why."""


async def follow(session: AsyncSession, vsu_id: uuid.UUID, offender_id: uuid.UUID) -> bool:
    """Link the two services; True if the link is new. LinkError for a wrong kind or a missing service."""
    vsu, offender = await session.get(Service, vsu_id), await session.get(Service, offender_id)
    if vsu is None or offender is None:
        raise LinkError("no such service")
    if vsu.kind != ServiceKind.VICTIM_SERVICES.value:
        raise LinkError("only a victim_services service can follow another service")
    if offender.kind == ServiceKind.VICTIM_SERVICES.value or offender.id == vsu.id:
        raise LinkError("a victim_services service cannot be followed: follow the offender-facing service")
    if await session.get(VictimServiceLink, (vsu_id, offender_id)) is not None:
        return False
    session.add(VictimServiceLink(vsu_service_id=vsu_id, offender_service_id=offender_id))
    return True


async def unfollow(session: AsyncSession, vsu_id: uuid.UUID, offender_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(VictimServiceLink).where(
            VictimServiceLink.vsu_service_id == vsu_id, VictimServiceLink.offender_service_id == offender_id
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def followed(session: AsyncSession, vsu_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """The services the unit follows: id -> name."""
    rows = await session.execute(
        select(Service.id, Service.name)
        .join(VictimServiceLink, VictimServiceLink.offender_service_id == Service.id)
        .where(VictimServiceLink.vsu_service_id == vsu_id)
        .order_by(Service.name)
    )
    return {row.id: row.name for row in rows}
