"""Sign-in pages: /login (email and password), /login/totp (the code), /account/totp/enrol, /logout.

The handlers turn `SignIn` results into pages and cookies. The session id changes at each step
(a new row when the password is right, another when the code is), so an id seen before sign-in
is worthless after it.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.db import Service, StaffUser
from gateway.web import audit, totp
from gateway.web.context import Stage, WebSession
from gateway.web.render import redirect, render_page, safe_next
from gateway.web.sessions import COOKIE
from gateway.web.signin import FAILED, CodeResult

routes = web.RouteTableDef()

WRONG_CODE = "That code is not right. Codes change every 30 seconds: type the one your app shows now."
ISSUER = "CJ Gateway"


async def _form(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


def _login_page(
    request: web.Request, email: str = "", error: str | None = None, status: int = 200, next_path: str | None = None
) -> web.Response:
    return render_page(
        request,
        "login.html",
        status=status,
        title="Sign in",
        email=email,
        next=next_path or safe_next(request.query.get("next")),
        errors=[error] if error else [],
    )


async def _promote(request: web.Request, response: web.Response, session: WebSession) -> None:
    """Replace a half-finished session with a signed-in one under a new id."""
    store = request.app[keys.WEB_SESSIONS]
    await store.end(session.id_hash)
    raw = await store.start(session.staff_id, session.service_id, Stage.FULL, audit.source_ip(request))
    store.set_cookie(response, COOKIE, raw)


@routes.get("/login")
async def login_form(request: web.Request) -> web.StreamResponse:
    if keys.STAFF in request:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _login_page(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    email, password = form.get("email", "").strip(), form.get("password", "")
    next_path = safe_next(form.get("next"))
    if not email or not password:
        return _login_page(request, email, "Enter your email address and password.", 400, next_path)
    passed = await request.app[keys.SIGNIN].check_password(email, password, audit.source_ip(request))
    if passed is None:
        return _login_page(request, email, FAILED, 400, next_path)
    store = request.app[keys.WEB_SESSIONS]
    old = request.get(keys.WEB_SESSION)
    if old is not None:
        await store.end(old.id_hash)
    stage = Stage.TOTP if passed.has_totp else Stage.ENROL
    raw = await store.start(passed.user_id, passed.service_id, stage, audit.source_ip(request))
    target = "/login/totp" if stage is Stage.TOTP else "/account/totp/enrol"
    response = redirect(f"{target}?next={quote(next_path, safe='')}")
    store.set_cookie(response, COOKIE, raw)
    return response


def _partial(request: web.Request, stage: Stage) -> WebSession:
    if keys.STAFF in request:
        raise web.HTTPSeeOther("/inbox")
    if keys.WEB_SESSION not in request or request[keys.WEB_SESSION].stage is not stage:
        raise web.HTTPSeeOther("/login")
    return request[keys.WEB_SESSION]


@routes.get("/login/totp")
async def totp_form(request: web.Request) -> web.StreamResponse:
    _partial(request, Stage.TOTP)
    return render_page(request, "totp.html", title="Enter your code", next=safe_next(request.query.get("next")))


@routes.post("/login/totp")
async def totp_submit(request: web.Request) -> web.StreamResponse:
    session = _partial(request, Stage.TOTP)
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    result = await request.app[keys.SIGNIN].check_code(session, form.get("code", ""), audit.source_ip(request))
    store = request.app[keys.WEB_SESSIONS]
    if result is CodeResult.OK:
        response = redirect(next_path)
        await _promote(request, response, session)
        return response
    if result is CodeResult.LOCKED:
        await store.end(session.id_hash)
        response = _login_page(request, error=FAILED, status=400)
        store.clear_cookie(response, COOKIE)
        return response
    return render_page(request, "totp.html", status=400, title="Enter your code", next=next_path, errors=[WRONG_CODE])


async def _enrol_page(
    request: web.Request, session: WebSession, status: int = 200, error: str | None = None
) -> web.Response:
    vault = request.app[keys.VAULT]
    sealed = session.pending_totp_secret_enc
    if sealed is None:
        sealed = vault.seal(totp.new_secret())
        await request.app[keys.WEB_SESSIONS].set_pending_secret(session.id_hash, sealed)
    secret = vault.open(sealed)
    async with request.app[keys.SESSIONS]() as db:
        row = (
            await db.execute(
                select(StaffUser.email, Service.name)
                .join(Service, Service.id == StaffUser.service_id)
                .where(StaffUser.id == session.staff_id)
            )
        ).one()
    uri = totp.provisioning_uri(secret, row.email, f"{ISSUER} ({row.name})")
    return render_page(
        request,
        "enrol.html",
        status=status,
        title="Set up two-factor sign-in",
        secret=totp.grouped(secret),
        uri=uri,
        qr=totp.qr_svg(uri),
        errors=[error] if error else [],
    )


@routes.get("/account/totp/enrol")
async def enrol_form(request: web.Request) -> web.StreamResponse:
    return await _enrol_page(request, _partial(request, Stage.ENROL))


@routes.post("/account/totp/enrol")
async def enrol_submit(request: web.Request) -> web.StreamResponse:
    session = _partial(request, Stage.ENROL)
    code = (await _form(request)).get("code", "")
    if await request.app[keys.SIGNIN].confirm_enrolment(session, code, audit.source_ip(request)):
        response = redirect("/inbox?done=enrolled")
        await _promote(request, response, session)
        return response
    return await _enrol_page(request, session, status=400, error=WRONG_CODE)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    session = request.get(keys.WEB_SESSION)
    store = request.app[keys.WEB_SESSIONS]
    if session is not None:
        await store.end(session.id_hash)
        async with request.app[keys.SESSIONS]() as db:
            audit.record(
                db,
                action="logout",
                actor=audit.staff_actor(session.staff_id),
                service_id=session.service_id,
                source_ip=audit.source_ip(request),
            )
            await db.commit()
    response = redirect("/login?done=signed_out")
    store.clear_cookie(response, COOKIE)
    return response
