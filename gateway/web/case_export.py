"""Exporting a case record as CSV or PDF: `POST /cases/{ref}/export` with `format` = csv | pdf.

The export is itself a record event: an EXPORT entry is appended (and audited) first, so the file
holds every entry up to and including its own export, in order, with each entry's hash. The chain
is verified and the PDF says whether it held. Entries carry no message bodies or contact details
(the record never stores them), and nothing sealed is written out. Staff not allowed victim data
get the export without the entries about victims, as on the page (`case_data.about_victims`); the
PDF says how many were left out. CSV cells are written through `gateway.csv_safe` (no formulas).

WeasyPrint blocks while it lays out a page, so the PDF is rendered in the default executor.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import orjson
import structlog
from aiohttp import web
from sqlalchemy import func, select

from gateway import keys
from gateway.csv_safe import write_csv
from gateway.db import Case, RecordEntry
from gateway.db.base import utcnow
from gateway.domain import RecordKind
from gateway.record import ChainReport, append_entry, verify_chain
from gateway.web import audit
from gateway.web.access import can_see_victim_data, signed_in
from gateway.web.case_data import case_handlers, visible_entries
from gateway.web.case_page import load_case

log = structlog.get_logger()
routes = web.RouteTableDef()

FORMATS = {"csv": "text/csv", "pdf": "application/pdf"}
CSV_COLUMNS = ("seq", "at", "kind", "actor", "summary", "data", "notification_id", "inbound_id", "prev_hash", "hash")


def entries_csv(entries: Sequence[RecordEntry]) -> str:
    return write_csv(
        CSV_COLUMNS,
        (
            (
                e.seq,
                e.at.isoformat(),
                e.kind,
                e.actor,
                e.summary,
                orjson.dumps(e.data, option=orjson.OPT_SORT_KEYS).decode(),
                e.notification_id or "",
                e.inbound_id or "",
                e.prev_hash,
                e.hash,
            )
            for e in entries
        ),
    )


def render_pdf(html: str) -> bytes:
    """Blocking: lay out and write the PDF (call it in an executor)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # imported here: loading pango takes a moment, and only exports need it

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf


def _filename(case: Case, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case.external_ref)[:64] or "case"
    return f"case-record-{safe}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"


async def _entries(request: web.Request, case: Case, hide_victims: bool) -> tuple[list[RecordEntry], int, ChainReport]:
    """The entries this viewer may see, oldest first; how many were left out; the chain check (of all)."""
    async with request.app[keys.SESSIONS]() as db:
        everything = select(RecordEntry).where(RecordEntry.case_id == case.id).order_by(RecordEntry.seq)
        query = await visible_entries(db, case.service_id, everything, hide_victims)
        rows = (await db.scalars(query)).all()
        total = await db.scalar(select(func.count()).select_from(RecordEntry).where(RecordEntry.case_id == case.id))
        report = await verify_chain(db, case.id)
    return list(rows), int(total or 0) - len(rows), report


@routes.post("/cases/{ref}/export")
async def case_export(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = await request.post()
    fmt = form.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise web.HTTPBadRequest(text="format must be csv or pdf")
    async with request.app[keys.SESSIONS]() as db:
        case = await load_case(db, staff, request.match_info["ref"])
        names = {f"staff:{u.id}": u.name for u in await case_handlers(db, staff.service_id)}
        audit.by_staff(db, request, staff, "export.case_record", target=str(case.id), detail={"format": fmt})
        await db.commit()
    exported = await append_entry(
        request.app[keys.SESSIONS],
        case.id,
        RecordKind.EXPORT,
        staff.actor,
        f"Record exported as {fmt.upper()}",
        {"format": fmt},
    )
    entries, withheld, report = await _entries(request, case, not can_see_victim_data(staff, staff.service))
    log.info("case.exported", case_id=str(case.id), format=fmt, seq=exported, chain_ok=report.ok)
    headers = {"Content-Disposition": f'attachment; filename="{_filename(case, fmt)}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return web.Response(
            body=entries_csv(entries).encode(), content_type=FORMATS[fmt], charset="utf-8", headers=headers
        )
    context: dict[str, Any] = {
        "case": case,
        "service": staff.service,
        "tz": staff.service.timezone,
        "entries": entries,
        "report": report,
        "exported_by": staff.name,
        "exported_at": utcnow(),
        "actor_names": names,
        "withheld": withheld,
    }
    html = request.app[keys.PAGES].render("case_record_pdf.html", context)
    pdf = await asyncio.get_running_loop().run_in_executor(None, render_pdf, html)
    return web.Response(body=pdf, content_type=FORMATS[fmt], headers=headers)
