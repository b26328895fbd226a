"""Answering a page: the common layout context (signed-in staff, navigation, CSRF token) and redirects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.domain import Role
from gateway.localtime import DEFAULT_ZONE
from gateway.victim_access import can_see_victim_data

# Messages shown after a redirect, chosen by a short code in the URL (`?done=...`), so nothing a
# visitor types is ever echoed back as a notice.
NOTICES = {
    "signed_out": "You have signed out.",
    "expired": "Your session ended. Sign in again to carry on.",
    "password": "Your password has been changed. Other browsers you were signed in on have been signed out.",
    "created": "The account has been created. They set up two-factor sign-in the first time they sign in.",
    "unlocked": "The account has been unlocked.",
    "totp_reset": "Two-factor sign-in has been reset: they set it up again at their next sign-in.",
    "enrolled": "Two-factor sign-in is set up.",
    "scheduled_cancelled": "The scheduled message has been cancelled.",
    "scheduled_edited": "The scheduled message has been changed.",
    "scheduled_too_late": "Too late: that message is being sent or has been sent, so it was not changed.",
    "key_revoked": "The API key has been revoked: every gateway process refuses it within 5 seconds.",
    "plan_saved": "The reminder plan has been saved. It applies to appointments planned from now on.",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    label: str
    href: str
    current: bool


_NAV = (
    ("Inbox", "/inbox"),
    ("My caseload", "/caseload"),
    ("My appointments", "/appointments"),
    ("Scheduled", "/scheduled"),
    ("Add client", "/people/new"),
    ("Cases", "/cases"),
    ("Broadcasts", "/broadcasts"),
    ("Templates", "/templates"),
    ("Sandbox phone", "/sandbox"),
    ("Sandbox mailroom", "/sandbox/mailroom"),
)


def _nav(request: web.Request) -> list[NavItem]:
    staff = request.get(keys.STAFF)
    if staff is None:
        return []
    items = list(_NAV)
    if staff.has_role(Role.SUPERVISOR, Role.ADMIN):
        items.insert(items.index(("Templates", "/templates")), ("Letters", "/letters"))  # the mailroom's work
    if can_see_victim_data(staff, staff.service):  # the victim services unit's own pages
        items.insert(1, ("Victims", "/victims"))
    if staff.is_admin:
        items.append(("Admin", "/admin/staff"))
    elif staff.has_role(Role.SUPERVISOR):
        items.append(("Audit log", "/admin/audit"))  # the one admin page supervisors see
    path = request.path

    def current(href: str) -> bool:
        area = "/admin" if href.startswith("/admin/") else href  # every /admin/ page is under its nav item
        return path == href or path.startswith(area + "/")

    best = max((href for _, href in items if current(href)), key=len, default=None)  # /sandbox/mailroom, not /sandbox
    return [NavItem(label, href, href == best) for label, href in items]


def render_page(request: web.Request, page: str, status: int = 200, **context: Any) -> web.Response:
    """Render a page inside the layout. `title` is required; the rest is the page's own context."""
    done = request.query.get("done", "")
    full: dict[str, Any] = {
        "staff": request.get(keys.STAFF),
        "tz": staff.service.timezone if (staff := request.get(keys.STAFF)) else DEFAULT_ZONE,
        "csrf_token": request.get(keys.CSRF_TOKEN, ""),
        "nav": _nav(request),
        "notice": NOTICES.get(done),
        "errors": [],
    }
    full.update(context)
    body = request.app[keys.PAGES].render(page, full)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def see_other(location: str) -> web.HTTPSeeOther:
    """Redirect after a POST (303), so a reload does not send the form again."""
    return web.HTTPSeeOther(location)


def safe_next(value: str | None, default: str = "/inbox") -> str:
    """A local path to go to after sign-in; anything that could leave the site becomes `default`."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if value.startswith(("/login", "/logout", "/static/")):
        return default
    return value


def redirect(location: str) -> web.Response:
    """A 303 as a response object, for handlers that also set or clear a cookie."""
    return web.Response(status=303, headers={"Location": location})
