"""Admin pages for the service's staff: list, create, and per person unlock and reset two-factor.

Admins only (403 for other roles). A person is looked up within the admin's own service, so
the id of someone in another service answers 404. Every change is audited.
"""

from __future__ import annotations

import uuid

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import keys
from gateway.db import StaffUser
from gateway.db.base import utcnow
from gateway.domain import Role
from gateway.web import audit
from gateway.web.access import not_found, parse_id, require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other
from gateway.web.staff_accounts import StaffProblems, add_staff, check_new_staff, reset_totp, unlock

routes = web.RouteTableDef()

ROLE_CHOICES = [(role.value, role.value.replace("_", " ").capitalize()) for role in Role]


def _admin(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, Role.ADMIN)
    return staff


async def _list_page(
    request: web.Request,
    staff: StaffContext,
    status: int = 200,
    errors: list[str] | None = None,
    form: dict[str, object] | None = None,
) -> web.Response:
    async with request.app[keys.SESSIONS]() as db:
        people = (
            await db.scalars(select(StaffUser).where(StaffUser.service_id == staff.service_id).order_by(StaffUser.name))
        ).all()
    return render_page(
        request,
        "admin_staff.html",
        status=status,
        title="Staff",
        people=people,
        now=utcnow(),
        role_choices=ROLE_CHOICES,
        form=form or {"email": "", "name": "", "roles": []},
        errors=errors or [],
    )


@routes.get("/admin/staff")
async def staff_list(request: web.Request) -> web.StreamResponse:
    return await _list_page(request, _admin(request))


@routes.post("/admin/staff")
async def staff_create(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    data = await request.post()
    email, name = str(data.get("email", "")), str(data.get("name", ""))
    roles = [str(r) for r in data.getall("roles", [])]
    form: dict[str, object] = {"email": email, "name": name, "roles": roles}
    try:
        email, name, roles = check_new_staff(email, name, roles, str(data.get("password", "")))
        password_hash = await request.app[keys.PASSWORDS].hash(str(data.get("password", "")))
        async with request.app[keys.SESSIONS]() as db:
            user = await add_staff(
                db,
                service_id=staff.service_id,
                email=email,
                name=name,
                roles=roles,
                password_hash=password_hash,
                actor=staff.actor,
                source_ip=audit.source_ip(request),
            )
            await db.commit()
    except StaffProblems as exc:
        return await _list_page(request, staff, 400, exc.problems, form)
    except IntegrityError:  # the same email added at the same moment elsewhere
        return await _list_page(request, staff, 400, ["An account with that email address already exists."], form)
    raise see_other(f"/admin/staff/{user.id}?done=created")


async def _find(db: AsyncSession, person_id: uuid.UUID, staff: StaffContext) -> StaffUser:
    """A member of the admin's own service; anyone else (or no one) is 404."""
    person = await db.scalar(
        select(StaffUser).where(StaffUser.id == person_id, StaffUser.service_id == staff.service_id)
    )
    if person is None:
        raise not_found()
    return person


@routes.get("/admin/staff/{staff_id}")
async def staff_detail(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    async with request.app[keys.SESSIONS]() as db:
        person = await _find(db, parse_id(request.match_info["staff_id"]), staff)
    return render_page(request, "admin_staff_person.html", title=person.name, person=person, now=utcnow())


async def _change(request: web.Request, action: str) -> web.StreamResponse:
    """Unlock or reset two-factor for one person, audited; a reset also signs them out everywhere."""
    staff = _admin(request)
    person_id = parse_id(request.match_info["staff_id"])
    async with request.app[keys.SESSIONS]() as db:
        person = await _find(db, person_id, staff)
        if action == "unlocked":
            unlock(db, person, staff.actor, audit.source_ip(request))
        else:
            reset_totp(db, person, staff.actor, audit.source_ip(request))
        await db.commit()
    if action == "totp_reset":
        await request.app[keys.WEB_SESSIONS].end_all_for(person_id)
    raise see_other(f"/admin/staff/{person_id}?done={action}")


@routes.post("/admin/staff/{staff_id}/unlock")
async def staff_unlock(request: web.Request) -> web.StreamResponse:
    return await _change(request, "unlocked")


@routes.post("/admin/staff/{staff_id}/reset-totp")
async def staff_reset_totp(request: web.Request) -> web.StreamResponse:
    return await _change(request, "totp_reset")
