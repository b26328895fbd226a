"""The Broadcasts pages: `/broadcasts` (the list), `/broadcasts/new` (compose), `/broadcasts/{id}` (preview,
approval, progress), its actions (send, ask for approval, approve, pause, resume, cancel, retry), its
live progress (`/progress`, JSON) and its per-recipient report (`/report.csv`).

Officers, supervisors and admins may broadcast (victim advocates may not: a broadcast goes to cases'
clients); only supervisors and admins may choose another officer's caseload or approve, and never
their own broadcast. Forms carry the CSRF token (checked by the web middleware). Creating, asking for
approval, approving, sending, pausing, resuming, cancelling, retrying and downloading the report are
audited (`broadcast.*`), with ids and counts, never names or numbers.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from aiohttp import web

from gateway import keys
from gateway.broadcasts import control
from gateway.broadcasts.audience import AudienceKind, choices, describe, officers
from gateway.broadcasts.content import load_content
from gateway.broadcasts.lifecycle import Deps, NotNow, approve, request_approval, seal_upload, send
from gateway.broadcasts.progress import counts, report_lines
from gateway.broadcasts.upload import HeaderError, check_list
from gateway.db import Broadcast
from gateway.directory.sheets import SheetError, read_sheet
from gateway.domain import Channel, Role
from gateway.errors import ApiError
from gateway.web import audit
from gateway.web.access import parse_id, require_role, signed_in
from gateway.web.broadcasts_data import list_rows, page_context, visible_broadcast
from gateway.web.compose import ComposeError, parse_send_at
from gateway.web.context import StaffContext
from gateway.web.render import render_page, see_other

routes = web.RouteTableDef()
SENDERS = (Role.OFFICER, Role.SUPERVISOR, Role.ADMIN)
UPLOAD_MAX_ROWS = 100_000
FORM_KEYS = (
    "name",
    "audience",
    "content",
    "message",
    "template_id",
    "values",
    "office",
    "program",
    "tag",
    "day",
    "officer",
)


def _form(given: dict[str, str]) -> dict[str, str]:
    return dict.fromkeys(FORM_KEYS, "") | given


def _sender(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, *SENDERS)
    return staff


@routes.get("/broadcasts")
async def broadcasts(request: web.Request) -> web.StreamResponse:
    staff = _sender(request)
    return render_page(request, "broadcasts.html", title="Broadcasts", rows=await list_rows(request, staff))


async def _form_context(request: web.Request, staff: StaffContext) -> dict[str, Any]:
    async with request.app[keys.SESSIONS]() as db:
        options = await choices(db, staff.service_id)
        staff_list = await officers(db, staff.service_id)
    templates = [
        t for t in await request.app[keys.TEMPLATES].list(staff.service_id) if t.channel in (Channel.SMS, Channel.EMAIL)
    ]
    return {
        "options": options,
        "officers": staff_list if staff.has_role(Role.SUPERVISOR, Role.ADMIN) else [],
        "templates": [t for t in templates if t.slug != "free_text"],
    }


@routes.get("/broadcasts/new")
async def new(request: web.Request) -> web.StreamResponse:
    staff = _sender(request)
    form = _form({"audience": "caseload", "content": "free_text"})
    return render_page(
        request, "broadcast_new.html", title="New broadcast", form=form, **await _form_context(request, staff)
    )


def _common_values(raw: str) -> dict[str, str]:
    """`field: value` lines, the values every recipient's message uses."""
    values = {}
    for line in raw.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip():
            values["_".join(name.strip().lower().split())] = value.strip()
    return values


@routes.post("/broadcasts")
async def create(request: web.Request) -> web.StreamResponse:
    staff = _sender(request)
    data = await request.post()
    form = _form({k: v for k, v in data.items() if isinstance(v, str)})
    app = request.app
    try:
        broadcast = await _draft(request, staff, form, data.get("file"))
    except (ComposeError, HeaderError, SheetError, ApiError, ValueError) as exc:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
        context = await _form_context(request, staff)
        return render_page(
            request, "broadcast_new.html", status=400, title="New broadcast", form=form, errors=[message], **context
        )
    async with app[keys.SESSIONS]() as db:
        db.add(broadcast)
        audit.by_staff(
            db,
            request,
            staff,
            "broadcast.create",
            target=str(broadcast.id),
            detail={"audience": broadcast.audience_spec["kind"]},
        )
        await db.commit()
    raise see_other(f"/broadcasts/{broadcast.id}")


async def _draft(request: web.Request, staff: StaffContext, form: dict[str, str], upload: Any) -> Broadcast:
    """A draft from the compose form; ComposeError (or a sheet's error) saying what to fix."""
    app = request.app
    vault = app[keys.VAULT]
    name = form.get("name", "").strip()
    if not name:
        raise ComposeError("Give the broadcast a name (only staff see it).")
    free_text = form.get("content") != "template"
    message = form.get("message", "").strip() if free_text else None
    if free_text and not message:
        raise ComposeError("Write the message, or choose a template.")
    template_id = None
    if not free_text:
        try:
            template_id = uuid.UUID(form.get("template_id", ""))
        except ValueError:
            raise ComposeError("Choose a template.") from None
    common = _common_values(form.get("values", ""))
    content = await load_content(
        app[keys.TEMPLATES],
        staff.service_id,
        template_id=template_id,
        message=message,
        common=common,
        service_name=staff.service.name,
    )
    try:
        kind = AudienceKind(form.get("audience", ""))
    except ValueError:
        raise ComposeError("Choose who the broadcast goes to.") from None
    value, upload_enc, staff_name = "", None, None
    if kind is AudienceKind.CASELOAD:
        value = form.get("officer") or str(staff.user_id)
        if value != str(staff.user_id):
            require_role(staff, Role.SUPERVISOR, Role.ADMIN)
        async with app[keys.SESSIONS]() as db:
            staff_name = dict(await officers(db, staff.service_id)).get(uuid.UUID(value))
        if staff_name is None:
            raise ComposeError("Choose an officer of this service.")
    elif kind is AudienceKind.APPOINTMENTS:
        value = form.get("day", "").strip()
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ComposeError("Enter the day of the appointments, for example 2030-01-31.") from None
    elif kind is AudienceKind.UPLOAD:
        if not isinstance(upload, web.FileField) or not upload.filename:
            raise ComposeError("Choose a .csv or .xlsx file with a phone number or email address column.")
        with upload.file:
            data = upload.file.read()
        sheet = read_sheet(data, upload.filename)
        if len(sheet.rows) > UPLOAD_MAX_ROWS:
            raise ComposeError(f"Too many rows. Maximum number of rows allowed is {UPLOAD_MAX_ROWS}")
        check_list(
            sheet.header,
            [],
            fields=content.fields(app[keys.RENDERER]),
            channels=content.channels,
            region=app[keys.SETTINGS].default_region,
        )
        value = upload.filename
        upload_enc = seal_upload(vault, sheet.header, sheet.rows, upload.filename)
    else:
        value = form.get(kind.value, "").strip()
        if not value:
            raise ComposeError(f"Choose the {kind.value}.")
    return Broadcast(
        service_id=staff.service_id,
        name=name[:255],
        created_by_staff_id=staff.user_id,
        audience=describe(kind, value, staff_name)[:500],
        audience_spec={"kind": kind.value, "value": value, "common": common},
        upload_enc=upload_enc,
        template_id=template_id,
        template_version=next(iter(content.templates.values())).version if template_id else None,
        message_enc=vault.seal(message) if message else None,
        status="draft",
    )


@routes.get("/broadcasts/{broadcast_id}")
async def show(request: web.Request) -> web.StreamResponse:
    staff = _sender(request)
    broadcast = await visible_broadcast(request, staff, parse_id(request.match_info["broadcast_id"]))
    context = await page_context(request, staff, broadcast)
    context["can_approve"] = (
        staff.has_role(Role.SUPERVISOR, Role.ADMIN) and broadcast.created_by_staff_id != staff.user_id
    )
    return render_page(request, "broadcast.html", title=f"Broadcast: {broadcast.name}", **context)


async def _act(request: web.Request, action: str) -> tuple[StaffContext, Broadcast, dict[str, Any]]:
    staff = _sender(request)
    broadcast = await visible_broadcast(request, staff, parse_id(request.match_info["broadcast_id"]))
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    return staff, broadcast, form


async def _refused(request: web.Request, staff: StaffContext, broadcast: Broadcast, message: str) -> web.Response:
    context = await page_context(request, staff, broadcast)
    context["can_approve"] = (
        staff.has_role(Role.SUPERVISOR, Role.ADMIN) and broadcast.created_by_staff_id != staff.user_id
    )
    return render_page(
        request, "broadcast.html", status=400, title=f"Broadcast: {broadcast.name}", errors=[message], **context
    )


async def _audit(request: web.Request, staff: StaffContext, action: str, broadcast: Broadcast, **detail: Any) -> None:
    async with request.app[keys.SESSIONS]() as db:
        audit.by_staff(db, request, staff, f"broadcast.{action}", target=str(broadcast.id), detail=detail or None)
        await db.commit()


def _agreed_to_bad_rows(context_rows: int, form: dict[str, Any]) -> bool:
    return context_rows == 0 or form.get("leave_out_bad_rows") == "yes"


@routes.post("/broadcasts/{broadcast_id}/send")
async def send_now(request: web.Request) -> web.StreamResponse:
    staff, broadcast, form = await _act(request, "send")
    deps = Deps.of(request.app)
    try:
        when = parse_send_at(form.get("send_at", ""), staff.service.timezone)
        if not await _bad_rows_ok(request, staff, broadcast, form):
            raise NotNow(
                "Some rows of the list have errors: tick “Leave out the rows with errors” to send to the others,"
                " or fix the file."
            )
        if when is not None:
            async with deps.sessions() as db:
                row = await db.get(Broadcast, broadcast.id)
                if row is not None and row.status in ("draft", "approved"):
                    row.scheduled_for = when
                await db.commit()
        if form.get("ask_approval") == "yes":
            await request_approval(deps.sessions, broadcast.id)
            await _audit(request, staff, "approval_requested", broadcast)
            raise see_other(f"/broadcasts/{broadcast.id}")
        written = await send(deps, broadcast.id, staff.service_id)
    except (NotNow, ComposeError) as exc:
        return await _refused(request, staff, broadcast, str(exc))
    await _audit(request, staff, "sent", broadcast, recipients=written, scheduled=when is not None)
    raise see_other(f"/broadcasts/{broadcast.id}")


async def _bad_rows_ok(request: web.Request, staff: StaffContext, broadcast: Broadcast, form: dict[str, Any]) -> bool:
    if broadcast.upload_enc is None:
        return True
    context = await page_context(request, staff, broadcast)
    return _agreed_to_bad_rows(len(context.get("bad_rows", [])), form)


@routes.post("/broadcasts/{broadcast_id}/approve")
async def approve_it(request: web.Request) -> web.StreamResponse:
    staff, broadcast, _ = await _act(request, "approve")
    require_role(staff, Role.SUPERVISOR, Role.ADMIN)
    try:
        written = await approve(Deps.of(request.app), broadcast.id, staff.service_id, staff.user_id)
    except NotNow as exc:
        await _audit(request, staff, "approve_refused", broadcast)
        return await _refused(request, staff, broadcast, str(exc))
    await _audit(request, staff, "approved", broadcast, recipients=written)
    raise see_other(f"/broadcasts/{broadcast.id}")


@routes.post("/broadcasts/{broadcast_id}/{action:pause|resume|cancel|retry}")
async def control_it(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    staff, broadcast, _ = await _act(request, action)
    app = request.app
    detail: dict[str, Any] = {}
    try:
        if action == "pause":
            await control.pause(app[keys.SESSIONS], broadcast.id, staff.service_id)
        elif action == "resume":
            await control.resume(app[keys.SESSIONS], app[keys.QUEUE], broadcast.id, staff.service_id)
        elif action == "cancel":
            detail["cancelled"] = await control.cancel(app[keys.SESSIONS], broadcast.id, staff.service_id, staff.actor)
        else:
            detail["retried"] = await control.retry_failed(
                app[keys.SESSIONS], app[keys.QUEUE], broadcast.id, staff.service_id
            )
    except NotNow as exc:
        return await _refused(request, staff, broadcast, str(exc))
    await _audit(
        request,
        staff,
        {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "retry": "retried"}[action],
        broadcast,
        **detail,
    )
    raise see_other(f"/broadcasts/{broadcast.id}")


@routes.get("/broadcasts/{broadcast_id}/progress")
async def progress(request: web.Request) -> web.Response:
    staff = _sender(request)
    broadcast = await visible_broadcast(request, staff, parse_id(request.match_info["broadcast_id"]))
    async with request.app[keys.SESSIONS]() as db:
        figures = await counts(db, broadcast.id)
    return web.json_response({"status": broadcast.status, **figures})


@routes.get("/broadcasts/{broadcast_id}/report.csv")
async def report(request: web.Request) -> web.StreamResponse:
    staff = _sender(request)
    broadcast = await visible_broadcast(request, staff, parse_id(request.match_info["broadcast_id"]))
    await _audit(request, staff, "report", broadcast)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="broadcast-{broadcast.id}.csv"',
        }
    )
    await response.prepare(request)
    async with request.app[keys.SESSIONS]() as db:
        async for line in report_lines(db, request.app[keys.VAULT], broadcast.id):
            await response.write(line.encode())
    await response.write_eof()
    return response
