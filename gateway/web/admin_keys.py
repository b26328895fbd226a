"""Admin page for the service's API keys: list them (type, creator, last use) and revoke one.

Admins only (403 for other roles); a key of another service answers 404. Revoking asks first on
a page that names the key, then posts (CSRF-checked by the web middleware), is audited
(`api_key.revoke`) and takes effect at once in this process and within 5 s in every other
(`gateway.key_admin`). Keys are made by `gateway key create`; a secret is never shown here.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from gateway import keys
from gateway.admin import AdminError
from gateway.domain import Role
from gateway.key_admin import find_key, list_keys, revoke_key
from gateway.web import audit
from gateway.web.access import not_found, parse_id, require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other

routes = web.RouteTableDef()


def _admin(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, Role.ADMIN)
    return staff


@routes.get("/admin/keys")
async def keys_list(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    async with request.app[keys.SESSIONS]() as db:
        found = await list_keys(db, staff.service_id)
    return render_page(request, "admin_keys.html", title="API keys", api_keys=found)


async def _key_id(request: web.Request, staff: StaffContext) -> uuid.UUID:
    key_id = parse_id(request.match_info["key_id"])
    async with request.app[keys.SESSIONS]() as db:
        try:
            await find_key(db, staff.service_id, str(key_id))
        except AdminError:
            raise not_found() from None
    return key_id


@routes.get("/admin/keys/{key_id}/revoke")
async def revoke_confirm(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    key_id = await _key_id(request, staff)
    async with request.app[keys.SESSIONS]() as db:
        key = await find_key(db, staff.service_id, str(key_id))
    return render_page(request, "admin_key_revoke.html", title=f"Revoke {key.name}", key=key)


@routes.post("/admin/keys/{key_id}/revoke")
async def revoke(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    key_id = await _key_id(request, staff)
    data = await request.post()
    async with request.app[keys.SESSIONS]() as db:
        key = await find_key(db, staff.service_id, str(key_id))
        if data.get("confirm") != key.name:
            return render_page(
                request,
                "admin_key_revoke.html",
                status=400,
                title=f"Revoke {key.name}",
                key=key,
                errors=[f"Type the key's name, {key.name}, to confirm."],
            )
        try:
            await revoke_key(db, staff.service_id, str(key_id), actor=staff.actor, source_ip=audit.source_ip(request))
        except AdminError as exc:  # revoked a moment ago by someone else
            return render_page(request, "admin_key_revoke.html", status=409, title="Revoke", key=key, errors=[str(exc)])
        await db.commit()
    request.app[keys.KEYRING].forget(staff.service_id)
    raise see_other("/admin/keys?done=key_revoked")
