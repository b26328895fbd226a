"""The sandbox mailroom (`/sandbox/mailroom`): the whole letter loop with no mail house.

On while no mail house is configured (GATEWAY_LETTERS_SFTP_HOST unset: embedded mode's default).
Every letter of the service is listed, newest first, with its status, tracking number and a link
to its PDF (`/letters/{id}/pdf`, letters to victims only for staff allowed victim data), beside
today's print batches (on the service's clock) as written to GATEWAY_LETTERS_DIR. Supervisors and
admins can also do what the mail house would: cut the batch now (as `gateway letters batch --now`
for this service, so nobody waits for the cutoff) and return a printed letter to the sender (the
same `record_returned` as a mail house's report). Every page says SANDBOX: nothing here was posted.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway import keys
from gateway.db.base import utcnow
from gateway.letters.batch import run_batch
from gateway.letters.returned import record_returned
from gateway.localtime import to_local
from gateway.web import audit
from gateway.web.access import not_found, parse_id, signed_in
from gateway.web.letters_data import POSTAGE_LABELS, all_letters, batches, letter_of
from gateway.web.letters_page import MAILROOM_ROLES, mailroom_staff
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

NOTICES = {
    "batch": "Today's batch has been cut and written.",
    "nothing": "No letters were waiting to be printed.",
    "returned": "The letter has been returned to the sender, as the mail house would report it.",
    "not_returned": "Only a printed letter can be returned, and only once.",
}


def _enabled(request: web.Request) -> bool:
    return not request.app[keys.SETTINGS].letters_sftp_host


@routes.get("/sandbox/mailroom")
async def mailroom(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    if not _enabled(request):
        return render_page(request, "mailroom.html", title="Sandbox mailroom", enabled=False)
    today = to_local(utcnow(), staff.service.timezone).date().isoformat()
    async with request.app[keys.SESSIONS]() as db:
        letters = await all_letters(db, request.app[keys.VAULT], staff)
        todays = await batches(db, staff.service_id, day=today)
    return render_page(
        request,
        "mailroom.html",
        title="Sandbox mailroom",
        enabled=True,
        letters=letters,
        batches=todays,
        today=today,
        operator=staff.has_role(*MAILROOM_ROLES),
        postage_labels=POSTAGE_LABELS,
        mailroom_notice=NOTICES.get(request.query.get("mailroom_done", "")),
    )


@routes.post("/sandbox/mailroom/batch")
async def mailroom_batch(request: web.Request) -> web.StreamResponse:
    staff = mailroom_staff(request)
    if not _enabled(request):
        raise web.HTTPForbidden(text="A mail house is configured: batches go to it at the cutoff.")
    reports = await run_batch(request.app[keys.JOB_CONTEXT], staff.service_id, now=utcnow())
    letters = sum(r.letters for r in reports)
    async with request.app[keys.SESSIONS]() as db:
        detail = {"batches": [str(r.batch_id) for r in reports], "letters": letters}
        audit.by_staff(db, request, staff, "letters.batch_now", detail=detail)
        await db.commit()
    log.info("mailroom.batch", service_id=str(staff.service_id), letters=letters)
    raise see_other(f"/sandbox/mailroom?mailroom_done={'batch' if reports else 'nothing'}")


@routes.post("/sandbox/mailroom/{notification_id}/return")
async def mailroom_return(request: web.Request) -> web.StreamResponse:
    staff = mailroom_staff(request)
    if not _enabled(request):
        raise web.HTTPForbidden(text="A mail house is configured: it reports returned mail.")
    nid = parse_id(request.match_info["notification_id"])
    async with request.app[keys.SESSIONS]() as db:
        if await letter_of(db, staff, nid) is None:
            raise not_found()
    report = await record_returned(request.app[keys.JOB_CONTEXT], [str(nid)], staff.service_id, actor=staff.actor)
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(db, request, staff, "letters.returned", target=str(nid), detail={"sandbox": True})
        await db.commit()
    raise see_other(f"/sandbox/mailroom?mailroom_done={'returned' if report.returned else 'not_returned'}")
