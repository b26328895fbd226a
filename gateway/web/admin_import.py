"""Admin upload page for importing people, cases or appointments from an export (.csv or .xlsx).

Admins only (403 for other roles). GET shows the form; POST (multipart, CSRF-checked by the web
middleware from the form's `csrf_token` field, within the app's body limit) runs `import_table`
with the service's region and shows the report: counts, the first errors by row and column, and
whether anything was written or why not. Audited as `directory.import` with counts, never rows.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import keys
from gateway.directory.importer import FULL_REFRESH_LIMIT, KINDS, ImportOptions, ImportReport, import_table
from gateway.domain import Role
from gateway.jobs.delivery import enqueue_deliveries
from gateway.web import audit
from gateway.web.access import require_role, signed_in
from gateway.web.context import StaffContext
from gateway.web.render import render_page

routes = web.RouteTableDef()
PAGE = "admin_import.html"
TITLE = "Import people, cases or appointments"
FLAGS = ("dry_run", "skip_bad_rows", "full", "force")


def _admin(request: web.Request) -> StaffContext:
    staff = signed_in(request)
    require_role(staff, Role.ADMIN)
    return staff


def _why_not_written(report: ImportReport, options: ImportOptions) -> str | None:
    """In plain words, why an import wrote nothing (None when it wrote)."""
    if report.written:
        return None
    if report.error_count and report.rows == 0:
        return "The file could not be read, or its columns are wrong: see the errors below."
    if report.error_count and not options.skip_bad_rows:
        return f"Rows with errors: {report.error_count}. Fix them in the file, or tick “Skip bad rows”."
    if report.refused:
        return report.refused.replace("run again with --force", "tick “Force” and import again")
    if options.dry_run:
        return "This was a dry run: nothing was written."
    return "Nothing was written."


def _page(request: web.Request, form: dict[str, Any], status: int = 200, **context: Any) -> web.Response:
    context.setdefault("report", None)
    limit = f"{FULL_REFRESH_LIMIT:.0%}"
    return render_page(request, PAGE, status=status, title=TITLE, form=form, limit=limit, **context)


@routes.get("/admin/import")
async def import_form(request: web.Request) -> web.StreamResponse:
    _admin(request)
    return _page(request, {"kind": "people"} | dict.fromkeys(FLAGS, False))


@routes.post("/admin/import")
async def import_upload(request: web.Request) -> web.StreamResponse:
    staff = _admin(request)
    data = await request.post()
    kind = data.get("kind")
    upload = data.get("file")
    form: dict[str, Any] = {name: data.get(name) == "yes" for name in FLAGS}
    form["kind"] = kind if kind in KINDS else "people"
    problems = []
    if kind not in KINDS:
        problems.append("Choose what the file holds: people, cases or appointments.")
    if not isinstance(upload, web.FileField) or not upload.filename:
        problems.append("Choose a .csv or .xlsx file to import.")
    if problems or not isinstance(upload, web.FileField) or not isinstance(kind, str):
        return _page(request, form, status=400, errors=problems)
    options = ImportOptions(
        dry_run=form["dry_run"],
        skip_bad_rows=form["skip_bad_rows"],
        full=form["full"] and kind in ("cases", "appointments"),
        force=form["force"],
        region=request.app[keys.SETTINGS].default_region,
        now=request.app[keys.CLOCK].now(),
    )
    app = request.app
    report = await import_table(
        app[keys.SESSIONS],
        app[keys.ENGINE],
        app[keys.VAULT],
        staff.service_id,
        kind,
        upload.file.read(),
        upload.filename,
        options,
        staff.actor,
    )
    counts = {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "closed": report.closed,
        "skipped": report.skipped,
        "errors": report.error_count,
    }
    if kind == "appointments":
        counts["cancelled"] = report.cancelled
    async with app[keys.SESSIONS]() as db:
        detail = {"kind": kind, "filename": upload.filename, "counts": counts, "written": report.written}
        audit.by_staff(db, request, staff, "directory.import", target=upload.filename, detail=detail)
        await db.commit()
    if report.deliver:  # what the appointments' reminders hook queued, after the import's commit
        await enqueue_deliveries(app[keys.QUEUE], report.deliver)
    return _page(
        request,
        form,
        report=report,
        options=options,
        filename=upload.filename,
        why_not=_why_not_written(report, options),
    )
