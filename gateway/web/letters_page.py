"""The Letters page (`/letters`): print batches, letters waiting for the next one, returned mail.

For supervisors and admins, who run the mailroom side of the service:

* each print batch (its day on the service's clock, letters, sheets, letters by postage, state and
  whether the mail house has it), with its PDF and manifest to download (each download audited);
* letters waiting for the next batch, each with Cancel (a confirmation page first; allowed only until
  the batch is cut, by the one rule in `gateway.letters.cancel`);
* the latest printed letters with their Certified Mail tracking numbers;
* a returned-mail form: notification ids or references typed or in the mail house's report file,
  recorded by the same code as `gateway letters returned` (`gateway.letters.returned`);
* a Certified Mail tracking form: the mail house's tracking report typed or uploaded, all or nothing,
  by the same code as `gateway letters tracking` (`gateway.letters.tracking`).

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
from gateway.letters.tracking import TrackingReportError, record_tracking
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
        "tracking_lines": "",
        "tracking_result": None,
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


def _uploaded_text(form: object) -> tuple[str, list[str]]:
    """The text of the report file chosen in the form (empty when none), and any problem with it."""
    assert hasattr(form, "get")
    upload = form.get("report")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return "", []
    data = upload.file.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        return "", ["The report file is larger than 1 MB."]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return "", ["The report file must be a text or CSV file (UTF-8)."]


async def _report_entries(form: object) -> tuple[list[str], list[str]]:
    """The typed ids and the uploaded report's (each may start with a header line), and any problem."""
    assert hasattr(form, "get")
    typed = form.get("entries")
    entries = read_report(typed) if isinstance(typed, str) else []
    uploaded, problems = _uploaded_text(form)
    return entries + (read_report(uploaded) if uploaded else []), problems


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


@routes.post("/letters/tracking")
async def tracking_post(request: web.Request) -> web.StreamResponse:
    """The mail house's Certified Mail tracking report, typed or uploaded: recorded all or nothing."""
    staff = mailroom_staff(request)
    form = await request.post()
    typed = form.get("tracking_lines")
    typed_text = typed if isinstance(typed, str) else ""
    uploaded, problems = _uploaded_text(form)
    if uploaded.strip() and typed_text.strip():  # one report at a time, so line numbers mean its lines
        problems = ["Type the lines or choose the report file, not both."]
    text = uploaded if uploaded.strip() else typed_text
    if not problems and not text.strip():
        problems = ["Enter one letter a line (notification id or reference, tracking number), or choose the report."]
    if not problems and text.count("\n") >= MAX_ENTRIES:
        problems = [f"A report can list at most {MAX_ENTRIES} letters."]
    if not problems:
        try:
            result = await record_tracking(request.app[keys.JOB_CONTEXT], text, staff.service_id)
        except TrackingReportError as refused:
            problems = [f"Nothing was recorded. {problem[0].upper()}{problem[1:]}." for problem in refused.problems]
    if problems:
        async with request.app[keys.SESSIONS]() as db:
            audit.by_staff(
                db, request, staff, "letters.tracking", outcome="refused", detail={"problems": len(problems)}
            )
            await db.commit()
        return await letters_page(request, errors=problems, tracking_lines=typed_text)
    detail = {"recorded": len(result.recorded), "unchanged": len(result.unchanged)}
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(db, request, staff, "letters.tracking", detail=detail)
        await db.commit()
    return await letters_page(request, tracking_result=result)
