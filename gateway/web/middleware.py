"""The web middleware: sessions, sign-in required by default, CSRF checks, security headers, error pages.

It handles every path except the API (`/v2`, `/webhooks`) and health checks, in this order:

1. load the session from its cookie (expired ones are dropped) and derive the CSRF token;
2. send anyone not signed in to /login, unless the path is one of the few public ones;
3. refuse a POST (or any unsafe method) whose CSRF token is missing or wrong: 403, nothing runs;
   and a form field or query parameter holding a NUL character (`gateway.text_input`): 400 naming it.
   Signed links (`SIGNED_PREFIXES`: the one-click unsubscribe link in email) are public and need no
   CSRF token: a mail client POSTs to them with no session, and the signature in the URL is the
   whole authority (checked by their handler);
4. answer 4xx/5xx as HTML pages, and add the security headers to every response.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from aiohttp import web

from gateway import keys
from gateway.api.errors import Handler
from gateway.text_input import first_nul_field
from gateway.web import csrf
from gateway.web.context import Stage
from gateway.web.render import render_page
from gateway.web.sessions import COOKIE, PRE_COOKIE, Loaded, SessionStore

log = structlog.get_logger()

NOT_PAGES = ("/v2", "/webhooks", "/healthz", "/readyz")
PUBLIC_PATHS = frozenset({"/login", "/login/totp", "/account/totp/enrol", "/logout"})
STATIC_PREFIX = "/static/"
SIGNED_PREFIXES = ("/unsubscribe/", "/victims/ack/")  # victim notice acknowledgment (gateway.web.victims_ack)

SECURITY_HEADERS = {
    # No inline script or style anywhere: everything comes from /static.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}

_MESSAGES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Page not found", "There is nothing at this address, or it is not part of your service."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "What was sent is larger than the gateway accepts."),
    500: ("Something went wrong", "The gateway could not show this page. The problem has been logged."),
}


class CsrfRefused(web.HTTPForbidden):
    """A state-changing request without the right CSRF token."""


class NulRefused(web.HTTPBadRequest):
    """A form field or query parameter with a NUL character (PostgreSQL cannot store or search one)."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field


def is_page_path(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def _stage_page(stage: Stage | None) -> str | None:
    return {Stage.TOTP: "/login/totp", Stage.ENROL: "/account/totp/enrol"}.get(stage) if stage else None


async def _guarded(request: web.Request, handler: Handler, has_csrf_cookie: bool) -> web.StreamResponse:
    path = request.path
    if path.startswith(SIGNED_PREFIXES):
        return await handler(request)
    public = path in PUBLIC_PATHS or path.startswith(STATIC_PREFIX)
    if not public and keys.STAFF not in request:
        if request.method not in csrf.SAFE_METHODS:
            raise web.HTTPForbidden()
        session = request.get(keys.WEB_SESSION)
        target = _stage_page(session.stage if session else None)
        raise web.HTTPSeeOther(target or f"/login?next={quote(request.path_qs, safe='')}")
    if request.method not in csrf.SAFE_METHODS:
        given = await csrf.submitted_token(request)
        expected = request[keys.CSRF_TOKEN] if has_csrf_cookie else None
        if not csrf.token_ok(expected, given):
            log.warning("csrf_refused", path=path, method=request.method, had_token=given is not None)
            raise CsrfRefused()
    fields: list[tuple[str, object]] = list(request.query.items())
    if request.method not in csrf.SAFE_METHODS and request.content_type in csrf.FORM_TYPES:
        fields += list((await request.post()).items())
    if (field := first_nul_field(fields)) is not None:
        raise NulRefused(field)
    return await handler(request)


def _error_page(request: web.Request, status: int, exc: Exception | None = None) -> web.Response:
    title, message = _MESSAGES.get(status, (f"Error {status}", "The request could not be completed."))
    if isinstance(exc, CsrfRefused):
        title = "This form has expired"
        message = (
            "The form was not sent from a page of this site, or it was open too long. Reload the page and try again."
        )
    elif isinstance(exc, NulRefused):
        message = (
            f"The field {exc.field!r} contains a NUL character, which the gateway does not accept. "
            "Remove it and try again."
        )
    return render_page(request, "error.html", status=status, title=title, message=message)


def _secure(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(SECURITY_HEADERS)
    if not request.path.startswith(STATIC_PREFIX):
        # pages show personal data: never keep them in a shared cache or the browser's history cache
        response.headers["Cache-Control"] = "no-store"
    return response


async def _as_page(request: web.Request, call: Handler) -> web.StreamResponse:
    """Run `call`, answering errors as HTML pages and redirects as plain responses (cookies can be added)."""
    try:
        return await call(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return _error_page(request, exc.status, exc)
        location = exc.headers.get("Location")
        return web.Response(status=exc.status, headers={"Location": location} if location else None)
    except Exception:
        log.exception("page_error", path=request.path)
        return _error_page(request, 500)


def _attach(request: web.Request, store: SessionStore, loaded: Loaded | None) -> str | None:
    """Put the session, staff member and CSRF token on the request; a new pre-session value if one is needed."""
    if loaded is not None:
        request[keys.WEB_SESSION] = loaded.session
        if loaded.staff is not None:
            request[keys.STAFF] = loaded.staff
        request[keys.CSRF_TOKEN] = loaded.session.csrf_token
        return None
    pre = request.cookies.get(PRE_COOKIE, "")
    new_pre = None
    if not pre or len(pre) > 128:
        pre = new_pre = csrf.new_pre_session_value()
    request[keys.CSRF_TOKEN] = store.pre_csrf_for(pre)
    return new_pre


LARGE_UPLOADS = frozenset({"/broadcasts"})  # POSTs read with GATEWAY_UPLOAD_MAX_BYTES, not GATEWAY_MAX_BODY_BYTES


@web.middleware
async def web_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Sessions, default-deny sign-in, CSRF and headers for the staff pages (see the module docstring)."""
    if not is_page_path(request.path):
        return await handler(request)
    if request.method == "POST" and request.path in LARGE_UPLOADS:  # a broadcast's list (gateway.broadcasts)
        request = request.clone(client_max_size=request.app[keys.SETTINGS].upload_max_bytes)
    if request.path.startswith(STATIC_PREFIX) and request.method in csrf.SAFE_METHODS:
        return _secure(request, await _as_page(request, handler))  # public files: no session lookup
    store = request.app[keys.WEB_SESSIONS]
    raw = request.cookies.get(COOKIE, "")
    loaded = await store.load(raw) if raw else None
    new_pre = _attach(request, store, loaded)
    has_csrf_cookie = loaded is not None or new_pre is None

    async def guarded(request: web.Request) -> web.StreamResponse:
        return await _guarded(request, handler, has_csrf_cookie)

    if loaded is not None and loaded.staff is not None:
        with structlog.contextvars.bound_contextvars(staff_id=str(loaded.staff.user_id)):
            response = await _as_page(request, guarded)
    else:
        response = await _as_page(request, guarded)
    if raw and loaded is None and COOKIE not in response.cookies:
        store.clear_cookie(response, COOKIE)  # a stale or expired session id
    if new_pre is not None:
        store.set_cookie(response, PRE_COOKIE, new_pre)
    return _secure(request, response)
