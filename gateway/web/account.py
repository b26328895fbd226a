"""The signed-in staff member's own account: details and changing the password."""

from __future__ import annotations

from aiohttp import web

from gateway import keys
from gateway.db import StaffUser
from gateway.web import audit
from gateway.web.access import signed_in
from gateway.web.passwords import password_problem
from gateway.web.render import render_page, see_other
from gateway.web.staff_accounts import set_password

routes = web.RouteTableDef()


def _page(request: web.Request, status: int = 200, errors: list[str] | None = None) -> web.Response:
    return render_page(request, "account.html", status=status, title="Your account", errors=errors or [])


@routes.get("/account")
async def account(request: web.Request) -> web.StreamResponse:
    signed_in(request)
    return _page(request)


@routes.post("/account/password")
async def change_password(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = await request.post()
    current, new, again = (str(form.get(name, "")) for name in ("current", "new", "confirm"))
    ip = audit.source_ip(request)
    async with request.app[keys.SESSIONS]() as db:
        user = await db.get(StaffUser, staff.user_id)
    if user is None or user.password_hash is None:
        raise web.HTTPNotFound()
    problem = password_problem(new, user.email)
    if new != again:
        problem = "The new password and its confirmation are not the same."
    if problem:
        return _page(request, 400, [problem])
    signin = request.app[keys.SIGNIN]
    if not (await request.app[keys.PASSWORDS].verify(user.password_hash, current)).ok:
        # A guess at the current password counts towards lockout, as at sign-in.
        await signin.register_failure(user.id, user.service_id, ip, "staff.password_change", "failure")
        return _page(request, 400, ["Your current password is not right."])
    new_hash = await request.app[keys.PASSWORDS].hash(new)
    async with request.app[keys.SESSIONS]() as db:
        user = await db.get(StaffUser, staff.user_id)
        assert user is not None
        set_password(db, user, new_hash, ip)
        await db.commit()
    await request.app[keys.WEB_SESSIONS].end_all_for(staff.user_id, keep=staff.session.id_hash)
    raise see_other("/account?done=password")
