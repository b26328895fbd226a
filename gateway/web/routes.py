"""Mounts the staff web interface: its resources, page routes and static files.

The middleware (`gateway.web.middleware.web_middleware`) is listed in `create_app`, after the
API's, so that it sees every page request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway import keys
from gateway.appointments import admin_page as reminder_plans
from gateway.web import (
    account,
    add_client,
    admin_audit,
    admin_import,
    admin_keys,
    admin_staff,
    alert_settings,
    appointment_actions,
    appointment_form,
    broadcasts_page,
    case_export,
    case_page,
    caseload,
    compose,
    conversation,
    home,
    inbox,
    letters_page,
    live_socket,
    login_pages,
    mailroom,
    merge_page,
    my_appointments,
    person_page,
    sandbox_phone,
    scheduled_page,
    templates_page,
    unsubscribe_page,
    victims_ack,
    victims_pages,
)
from gateway.web.pages import PageRenderer
from gateway.web.passwords import Passwords
from gateway.web.sessions import SessionStore
from gateway.web.signin import SignIn

STATIC_DIR = Path(__file__).resolve().parent / "static"


async def _web_resources(app: web.Application) -> AsyncIterator[None]:
    # After `_database` in cleanup_ctx: both need the session factory it opens.
    app[keys.WEB_SESSIONS] = SessionStore(app[keys.SESSIONS], app[keys.VAULT].session_key, app[keys.SETTINGS])
    app[keys.SIGNIN] = SignIn(app[keys.SESSIONS], app[keys.PASSWORDS], app[keys.VAULT])
    yield


def setup_web(app: web.Application) -> None:
    # Staff pages live beside the message templates (GATEWAY_TEMPLATES_DIR), so an installed gateway
    # (the container image: pip install ., not an editable checkout) finds them too.
    app[keys.PAGES] = PageRenderer(app[keys.SETTINGS].templates_dir / "pages")
    app[keys.PASSWORDS] = Passwords.from_settings(app[keys.SETTINGS])
    app.cleanup_ctx.append(_web_resources)
    for module in (login_pages, home, account, templates_page, admin_staff, admin_keys, case_page, case_export):
        app.router.add_routes(module.routes)
    app.router.add_routes(admin_import.routes)
    app.router.add_routes(admin_audit.routes)
    app.router.add_routes(reminder_plans.routes)  # /admin/reminders (gateway.appointments)
    app.router.add_routes(alert_settings.routes)  # /account/alerts: alerts and out of office (gateway.alerts)
    for directory in (caseload, add_client, person_page, merge_page):  # people and cases (/people/new first)
        app.router.add_routes(directory.routes)
    app.router.add_routes(sandbox_phone.routes)
    app.router.add_routes(mailroom.routes)  # before letters_page: /sandbox/mailroom/{id}/return
    app.router.add_routes(letters_page.routes)
    app.router.add_routes(unsubscribe_page.routes)  # public: a signed link, not a staff page
    app.router.add_routes(victims_ack.routes)  # public: the signed acknowledgment link in victim email
    app.router.add_routes(victims_pages.routes)  # the victim services unit's pages (gateway.victims)
    for chat in (inbox, conversation, compose, live_socket):  # inbox, conversations, live updates
        app.router.add_routes(chat.routes)
    app.router.add_routes(my_appointments.routes)  # /appointments before /appointments/{id}/...
    app.router.add_routes(appointment_form.routes)  # add, change, move
    app.router.add_routes(appointment_actions.routes)  # cancel, attended / missed
    app.router.add_routes(broadcasts_page.routes)  # broadcasts (gateway.broadcasts)
    app.router.add_routes(scheduled_page.routes)  # scheduled messages; read marks and opt-out state
    live_socket.setup(app)
    app.router.add_static("/static/", STATIC_DIR, name="static")
