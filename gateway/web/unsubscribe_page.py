"""The one-click unsubscribe link in reminder and broadcast email (RFC 8058): `/unsubscribe/{token}`.

No sign-in and no CSRF token: the signed token in the URL is the only authority, and it stands for
one notification and so for exactly the address that email was sent to (`gateway.unsubscribe`).

* `GET` shows a page with one button; it changes nothing, because mail scanners and link previews
  follow every link in a message.
* `POST` (what a mail client sends for `List-Unsubscribe-Post: List-Unsubscribe=One-Click`, or the
  page's button) opts that address out of the service's email through the consent ledger, with a
  case record entry and an audit row. Repeating it is harmless.

A token that is not ours, altered, or names no email answers 404 and changes nothing.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from gateway import keys
from gateway.db.write_lock import write_lock
from gateway.unsubscribe import ACTOR, PATH, Unsubscribing, find_link, unsubscribe
from gateway.web import audit
from gateway.web.render import render_page

log = structlog.get_logger()
routes = web.RouteTableDef()

MAX_ATTEMPTS = 10
NOT_VALID = "This unsubscribe link is not valid. Nothing was changed."


@routes.get(PATH + "{token}")
async def confirm_page(request: web.Request) -> web.StreamResponse:
    async with request.app[keys.SESSIONS]() as db:
        link = await find_link(db, request.app[keys.VAULT], request.match_info["token"])
    if link is None:
        return render_page(request, "unsubscribe.html", status=404, title="Link not valid", problem=NOT_VALID)
    return render_page(
        request, "unsubscribe.html", title="Unsubscribe", service_name=link.service_name, unsubscribed=False
    )


@routes.post(PATH + "{token}")
async def one_click(request: web.Request) -> web.StreamResponse:
    for attempt in range(MAX_ATTEMPTS):  # another writer may take the case record's next seq first
        try:
            done = await _unsubscribe(request)
            break
        except IntegrityError:
            if attempt == MAX_ATTEMPTS - 1:
                raise
    if done is None:
        log.info("unsubscribe.refused")
        return render_page(request, "unsubscribe.html", status=404, title="Link not valid", problem=NOT_VALID)
    link, changed = done
    log.info("unsubscribe.done", notification_id=str(link.notification_id), changed=changed)
    return render_page(
        request, "unsubscribe.html", title="Unsubscribed", service_name=link.service_name, unsubscribed=True
    )


async def _unsubscribe(request: web.Request) -> tuple[Unsubscribing, bool] | None:
    """One transaction: check the link, opt its address out, record and audit it."""
    app = request.app
    async with write_lock(app[keys.ENGINE]), app[keys.SESSIONS]() as db:
        link = await find_link(db, app[keys.VAULT], request.match_info["token"])
        if link is None:
            return None
        changed = await unsubscribe(db, link)
        audit.record(
            db,
            action="consent.unsubscribe",
            actor=ACTOR,
            service_id=link.service_id,
            source_ip=audit.source_ip(request),
            outcome="ok" if changed else "already_opted_out",
            target=str(link.notification_id),
        )
        await db.commit()
    return link, changed
