"""Who may see what: the signed-in staff member, roles, compartments and victim data, in one place.

* Every page except sign-in and static files needs a signed-in staff member (the web middleware
  redirects to /login otherwise); handlers take it from `signed_in(request)`.
* Every query is scoped to `staff.service_id`. An object of another service answers 404, the
  same as one that does not exist, so ids cannot be probed across services.
* A page for one role answers 403 to the others (`require_role`).
* Victim data is visible only in a victim-services service and only to victim advocates,
  supervisors and admins (`can_see_victim_data`, from `gateway.victim_access`, which the handler
  chain and exports use too); every view of it is audited (`audit_view`).
"""

from __future__ import annotations

import uuid

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.domain import Role
from gateway.victim_access import VICTIM_DATA_ROLES as VICTIM_DATA_ROLES  # the rule lives there
from gateway.victim_access import can_see_victim_data as can_see_victim_data
from gateway.web import audit
from gateway.web.context import StaffContext


def signed_in(request: web.Request) -> StaffContext:
    """The signed-in staff member; the middleware has already sent anyone else to /login."""
    if keys.STAFF not in request:
        raise web.HTTPSeeOther("/login")
    return request[keys.STAFF]


def require_role(staff: StaffContext, *roles: Role) -> None:
    """403 unless the staff member has one of `roles`."""
    if not staff.has_role(*roles):
        raise web.HTTPForbidden()


def not_found() -> web.HTTPNotFound:
    """What any object outside the staff member's service answers: the same as a missing one."""
    return web.HTTPNotFound()


def parse_id(raw: str) -> uuid.UUID:
    """An id from a URL; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found() from None


def audit_view(db: AsyncSession, request: web.Request, staff: StaffContext, what: str, target: str) -> None:
    """Record that `staff` viewed victim data (`what`, e.g. "victim_registration", and its id).

    Every page or API that shows victim data calls this, and commits it with the request.
    """
    audit.by_staff(db, request, staff, f"view.{what}", target=target)


def open_victim_data(db: AsyncSession, request: web.Request, staff: StaffContext, what: str, target: str) -> None:
    """Check and audit in one call: 404 for anyone who may not see victim data, an audit row otherwise."""
    if not can_see_victim_data(staff, staff.service):
        raise not_found()
    audit_view(db, request, staff, what, target)
