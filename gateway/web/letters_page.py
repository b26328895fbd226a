"""The Letters page (`/letters`): print batches, letters waiting for the next one, returned mail.

For supervisors and admins, who run the mailroom side of the service:

* each print batch (its day on the service's clock, letters, sheets, letters by postage, state and
  whether the mail house has it), with its PDF and manifest to download (each download audited);
* letters waiting for the next batch, each with Cancel (a confirmation page first; allowed only until
  the batch is cut, by the one rule in `gateway.letters.cancel`);
* the latest printed letters with their Certified Mail tracking numbers;
* a returned-mail form: notification ids or references typed or in the mail house's report file,
  recorded by the same code as `gateway letters returned` (`gateway.letters.returned`).

`/letters/{id}/pdf` is the PDF of one letter for any signed-in staff member who may see it (its
service; a letter to a victim only for staff allowed victim data, `letters_data`), audited; the
conversation thread, the case page and the sandbox mailroom link to it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from aiohttp import web

from gateway import keys
from gateway.api.letters import NO_PDF, letter_pdf
from gateway.domain import Role
from gateway.letters.cancel import cancel_letter
from gateway.letters.returned import read_report, record_returned
from gateway.web import audit
from gateway.web.access import not_found, parse_id, require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.letters_data import (
    POSTAGE_LABELS,
    batch_of,
    batches,
    letter_of,
    printed_letters,
    waiting_letter,
    waiting_letters,
)
from gateway.web.render import render_page, see_other

log = structlog.get_logger()
routes = web.RouteTableDef()

MAILROOM_ROLES = (Role.SUPERVISOR, Role.ADMIN)
MAX_REPORT_BYTES = 1024 * 1024
MAX_ENTRIES = 5000
LETTER_NOTICES = {
    "cancelled": "The letter has been cancelled: it will not be printed.",
    "too_late": "The letter could not be cancelled: its print batch has been cut, or it is no longer waiting.",
}


def mailroom_staff(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, *MAILROOM_ROLES)
    return staff


async def letters_page(request: web.Request, **extra: object) -> web.Response:
    staff = mailroom_staff(request)
    vault = request.app[keys.VAULT]
    async with request.app[keys.SESSIONS]() as db:
        found = await batches(db, staff.service_id)
        waiting = await waiting_letters(db, vault, staff)
        printed = await printed_letters(db, vault, staff)
    context: dict[str, object] = {
        "title": "Letters",
        "postage_labels": POSTAGE_LABELS,
        "batches": found,
        "waiting": waiting,
        "printed": printed,
        "letters_notice": LETTER_NOTICES.get(request.query.get("letters_done", "")),
        "mail_house": bool(request.app[keys.SETTINGS].letters_sftp_host),
        "entries": "",
        "result": None,
    }
    context.update(extra)
    return render_page(request, "letters.html", status=400 if extra.get("errors") else 200, **context)


@routes.get("/letters")
async def letters_get(request: web.Request) -> web.StreamResponse:
    return await letters_page(request)


@routes.get("/letters/batches/{batch_id}/{file}")
async def batch_file(request: web.Request) -> web.StreamResponse:
    """A batch's PDF or manifest; every download is audited (the PDF holds every letter of the day)."""
    staff = mailroom_staff(request)
    which = request.match_info["file"]
    if which not in ("pdf", "manifest"):
        raise not_found()
    async with request.app[keys.SESSIONS]() as db:
        batch = await batch_of(db, staff.service_id, parse_id(request.match_info["batch_id"]))
        path = None if batch is None else (batch.pdf_path if which == "pdf" else batch.manifest_path)
        if batch is None or not path or not await asyncio.to_thread(Path(path).is_file):
            raise not_found()
        audit.by_staff(db, request, staff, "letters.batch_download", target=str(batch.id), detail={"file": which})
        await db.commit()
    kind = "application/pdf" if which == "pdf" else "text/csv"
    name = Path(path).name
    return web.FileResponse(
        path, headers={"Content-Type": kind, "Content-Disposition": f'attachment; filename="{name}"'}
    )


@routes.get("/letters/{notification_id}/pdf")
async def letter_pdf_page(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    async with request.app[keys.SESSIONS]() as db:
        found = await letter_of(db, staff, parse_id(request.match_info["notification_id"]))
        if found is None:
            raise not_found()
        n, document = found
        if document is None or document.pages == 0 or n.status in NO_PDF:
            raise not_found()
        audit.by_staff(db, request, staff, "view.letter_pdf", target=str(n.id))
        await db.commit()
    pdf = await letter_pdf(request.app, document)
    disposition = f'inline; filename="letter-{n.id}.pdf"'
    return web.Response(body=pdf, content_type="application/pdf", headers={"Content-Disposition": disposition})


@routes.get("/letters/{notification_id}/cancel")
async def cancel_confirm(request: web.Request) -> web.StreamResponse:
    """Are you sure? (The letter is named by its addressee and when it was sent.)"""
    staff = mailroom_staff(request)
    vault = request.app[keys.VAULT]
    nid = parse_id(request.match_info["notification_id"])
    async with request.app[keys.SESSIONS]() as db:
        letter = await waiting_letter(db, vault, staff, nid)
    if letter is None:
        raise see_other("/letters?letters_done=too_late")
    return render_page(request, "letter_cancel.html", title="Cancel a letter", letter=letter)


@routes.post("/letters/{notification_id}/cancel")
async def cancel_post(request: web.Request) -> web.StreamResponse:
    staff = mailroom_staff(request)
    nid = parse_id(request.match_info["notification_id"])
    async with request.app[keys.SESSIONS]() as db:
        if await letter_of(db, staff, nid) is None:
            raise not_found()
    done = await cancel_letter(request.app[keys.JOB_CONTEXT], staff.service_id, nid, actor=staff.actor)
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(db, request, staff, "letter.cancel", target=str(nid), outcome="ok" if done else "refused")
        await db.commit()
    log.info("letter.cancel", notification_id=str(nid), cancelled=done)
    raise see_other(f"/letters?letters_done={'cancelled' if done else 'too_late'}")


async def _report_entries(form: object) -> tuple[list[str], list[str]]:
    """The typed ids and the uploaded report's (each may start with a header line), and any problem."""
    assert hasattr(form, "get")
    typed = form.get("entries")
    entries = read_report(typed) if isinstance(typed, str) else []
    upload = form.get("report")
    if isinstance(upload, web.FileField) and upload.filename:
        data = upload.file.read(MAX_REPORT_BYTES + 1)
        if len(data) > MAX_REPORT_BYTES:
            return entries, ["The report file is larger than 1 MB."]
        try:
            entries += read_report(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return entries, ["The report file must be a text or CSV file (UTF-8)."]
    return entries, []


@routes.post("/letters/returned")
async def returned_post(request: web.Request) -> web.StreamResponse:
    staff = mailroom_staff(request)
    form = await request.post()
    entries, problems = await _report_entries(form)
    if not problems and not entries:
        problems = ["Enter notification ids or references, one a line, or choose the mail house's report file."]
    if len(entries) > MAX_ENTRIES:
        problems = [f"A report can list at most {MAX_ENTRIES} letters."]
    typed = form.get("entries")
    if problems:
        return await letters_page(request, errors=problems, entries=typed if isinstance(typed, str) else "")
    report = await record_returned(request.app[keys.JOB_CONTEXT], entries, staff.service_id, actor=staff.actor)
    detail = {"returned": len(report.returned), "unchanged": len(report.unchanged), "not_found": len(report.unknown)}
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(db, request, staff, "letters.returned", detail=detail)
        await db.commit()
    return await letters_page(request, result=report)
