"""`GET /v2/cases/{reference}/record`: a case's record entries, oldest first, with their hash chain.

The case is found by its external reference within the caller's service only; any other
reference, including one that exists in another service, is a 404. Entries hold ids, kinds and
summaries, never message bodies, so the caller fetches a notification or received text by id
when it needs the words. `verified` says whether the hash chain checks out, and where it breaks.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from gateway import keys
from gateway.api.auth import caller
from gateway.api.errors import json_response
from gateway.api.present import timestamp
from gateway.db import Case, RecordEntry
from gateway.errors import NotFound
from gateway.record import verify_chain

routes = web.RouteTableDef()


def present_entry(entry: RecordEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": timestamp(entry.at),
        "kind": entry.kind,
        "actor": entry.actor,
        "summary": entry.summary,
        "data": entry.data,
        "notification_id": str(entry.notification_id) if entry.notification_id else None,
        "inbound_id": str(entry.inbound_id) if entry.inbound_id else None,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


@routes.get("/v2/cases/{reference}/record")
async def get_case_record(request: web.Request) -> web.Response:
    who = caller(request)
    reference = request.match_info["reference"]
    async with request.app[keys.SESSIONS]() as session:
        case = await session.scalar(
            select(Case).where(Case.service_id == who.service_id, Case.external_ref == reference)
        )
        if case is None:
            raise NotFound("Case not found")
        entries = (
            await session.scalars(select(RecordEntry).where(RecordEntry.case_id == case.id).order_by(RecordEntry.seq))
        ).all()
        report = await verify_chain(session, case.id)
    return json_response(
        {
            "case": {"id": str(case.id), "reference": case.external_ref, "status": case.status},
            "verified": {"ok": report.ok, "first_bad_seq": report.first_bad_seq, "reason": report.reason},
            "entries": [present_entry(e) for e in entries],
        }
    )
