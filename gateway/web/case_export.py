"""Exporting a case record as CSV or PDF: `POST /cases/{ref}/export` with `format` = csv | pdf.

The export is itself a record event: an EXPORT entry is appended (and audited) first, so the file
holds every entry up to and including its own export that matches the page's filter (`kind`,
`from`, `to`, sent by the export form), in order, with each entry's hash. The chain is verified
(all of it) and the PDF says whether it held. Each entry reads in plain words with names
(`gateway.record_words`), and the file names the case's client. The messages' words are included
beside the entries that are messages: the record itself never stores them, they are read from the
messages, and only for entries this viewer may see. Staff not allowed victim data get the export
without the entries about victims, as on the page (`case_data.about_victims`); the PDF says how many
were left out. CSV cells are written through `gateway.csv_safe` (no formulas).

The PDF is tagged for screen readers (PDF/UA-1: structure tree, document language, title).
WeasyPrint blocks while it lays out a page, so it is rendered in the default executor; how long it
took is logged (`case.exported` `pdf_ms`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Sequence
from dataclasses import replace
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
from gateway.record_words import RecordReader
from gateway.web import audit
from gateway.web.access import can_see_victim_data, signed_in
from gateway.web.case_data import TimelineFilter, case_handlers, client_of, filtered_entries
from gateway.web.case_page import KIND_WORDS, KINDS, load_case, parse_day

log = structlog.get_logger()
routes = web.RouteTableDef()

FORMATS = {"csv": "text/csv", "pdf": "application/pdf"}
# Plain words first (what a person reads), then what the record stores (ids, data and the chain).
CSV_COLUMNS = (
    "seq",
    "at",
    "client",
    "by",
    "what",
    "person",
    "message",
    "kind",
    "actor",
    "summary",
    "data",
    "notification_id",
    "inbound_id",
    "prev_hash",
    "hash",
)


def entries_csv(entries: Sequence[RecordEntry], reader: RecordReader) -> str:
    def row(e: RecordEntry) -> tuple[object, ...]:
        line = reader.line(e)
        return (
            e.seq,
            e.at.isoformat(),
            reader.client,
            line.by,
            line.what,
            line.person,
            line.message or "",
            e.kind,
            e.actor,
            e.summary,
            orjson.dumps(e.data, option=orjson.OPT_SORT_KEYS).decode(),
            e.notification_id or "",
            e.inbound_id or "",
            e.prev_hash,
            e.hash,
        )

    return write_csv(CSV_COLUMNS, (row(e) for e in entries))


def render_pdf(html: str) -> bytes:
    """Blocking: lay out and write the PDF, tagged for screen readers (call it in an executor)."""
    from weasyprint import HTML  # type: ignore[import-untyped]  # imported here: loading pango takes a moment, and only exports need it

    pdf: bytes = HTML(string=html).write_pdf(pdf_variant="pdf/ua-1")
    return pdf


def _filename(case: Case, fmt: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", case.external_ref)[:64] or "case"
    return f"case-record-{safe}-{utcnow():%Y%m%d-%H%M%S}.{fmt}"


async def _entries(
    request: web.Request, case: Case, where: TimelineFilter
) -> tuple[list[RecordEntry], int, ChainReport, RecordReader]:
    """The entries this viewer may see that match the filter, oldest first; how many about victims were
    left out; the chain check (of all); their plain words."""
    async with request.app[keys.SESSIONS]() as db:
        rows = (await db.scalars((await filtered_entries(db, case, where)).order_by(RecordEntry.seq))).all()
        unhidden = await filtered_entries(db, case, replace(where, hide_victims=False))
        total = await db.scalar(select(func.count()).select_from(unhidden.subquery()))
        report = await verify_chain(db, case.id)
        reader = await RecordReader.load(
            db,
            request.app[keys.VAULT],
            case.service_id,
            rows,
            client_id=await client_of(db, case.id),
            with_text=True,  # only entries this viewer may see are here (the victim rule is applied above)
        )
    return list(rows), int(total or 0) - len(rows), report, reader


@routes.post("/cases/{ref}/export")
async def case_export(request: web.Request) -> web.StreamResponse:
    staff = signed_in(request)
    form = await request.post()
    fmt = form.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise web.HTTPBadRequest(text="format must be csv or pdf")
    kind = str(form.get("kind", "") or "")
    problems: list[str] = []
    where = TimelineFilter(
        kind if kind in KINDS else None,
        parse_day(str(form.get("from", "") or ""), "from", problems),
        parse_day(str(form.get("to", "") or ""), "to", problems),
        staff.service.timezone,
        hide_victims=not can_see_victim_data(staff, staff.service),
    )
    if problems:
        raise web.HTTPBadRequest(text=" ".join(problems))
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
    entries, withheld, report, reader = await _entries(request, case, where)
    headers = {"Content-Disposition": f'attachment; filename="{_filename(case, fmt)}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        log.info("case.exported", case_id=str(case.id), format=fmt, seq=exported, chain_ok=report.ok)
        return web.Response(
            body=entries_csv(entries, reader).encode(), content_type=FORMATS[fmt], charset="utf-8", headers=headers
        )
    context: dict[str, Any] = {
        "case": case,
        "service": staff.service,
        "tz": staff.service.timezone,
        "entries": [(e, reader.line(e)) for e in entries],
        "client": reader.client,
        "filtered": bool(where.kind or where.since or where.until),
        "kind_words": KIND_WORDS,
        "where": where,
        "report": report,
        "exported_by": staff.name,
        "exported_at": utcnow(),
        "actor_names": names,
        "withheld": withheld,
    }
    html = request.app[keys.PAGES].render("case_record_pdf.html", context)
    started = time.perf_counter()
    pdf = await asyncio.get_running_loop().run_in_executor(None, render_pdf, html)
    took = round((time.perf_counter() - started) * 1000, 1)
    log.info("case.exported", case_id=str(case.id), format=fmt, seq=exported, chain_ok=report.ok, pdf_ms=took)
    return web.Response(body=pdf, content_type=FORMATS[fmt], headers=headers)
