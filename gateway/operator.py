"""Operator commands for the inbound path and the case record (`gateway.cli` parses, `gateway.commands` calls).

* `gateway record verify CASE_REF [--service SERVICE_ID]` — recompute the case's hash chain;
  prints `OK` and exits 0, or names the first entry that does not match and exits 1.
* `gateway key list SERVICE_ID` — the service's API keys (id, name, type, creator, created, last
  used, revoked), never a secret; `gateway key revoke SERVICE_ID KEY` (id or name) revokes one.
* `gateway inbound replay ID... | --all-failed [--service SERVICE_ID]` — run failed inbound
  messages through the handler chain again, in this process (auto-replies it creates are
  enqueued as usual: on Redis for the workers, or delivered here in embedded mode).
"""

from __future__ import annotations

import argparse
from datetime import datetime

from sqlalchemy import select

from gateway.admin import AdminError
from gateway.cli import parse_uuid
from gateway.commands import CommandError
from gateway.db import Case, RecordEntry, Service
from gateway.db.engine import engine_from_settings, session_factory
from gateway.inbound.pipeline import InboundDeps
from gateway.inbound.replay import failed_ids, replay
from gateway.key_admin import list_keys, revoke_key
from gateway.record import verify_chain
from gateway.settings import Settings
from gateway.templating import shared_renderer


async def record_verify(settings: Settings, args: argparse.Namespace) -> int:
    service_id = parse_uuid(args.service, "--service") if args.service else None
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            query = select(Case).where(Case.external_ref == args.case_ref)
            if service_id is not None:
                query = query.where(Case.service_id == service_id)
            cases = (await session.scalars(query)).all()
            if not cases:
                raise CommandError(f"no case {args.case_ref!r}" + (f" in service {service_id}" if service_id else ""))
            if len(cases) > 1:
                raise CommandError(f"case {args.case_ref!r} exists in {len(cases)} services; pass --service SERVICE_ID")
            case = cases[0]
            report = await verify_chain(session, case.id)
            bad = None
            if report.first_bad_seq is not None:
                bad = await session.scalar(
                    select(RecordEntry).where(RecordEntry.case_id == case.id, RecordEntry.seq == report.first_bad_seq)
                )
    finally:
        await engine.dispose()
    if report.ok:
        print(f"OK: case {case.external_ref} ({case.id}): {report.entries} entries, hash chain intact")
        return 0
    where = f" (entry id {bad.id}, {bad.kind}, written {bad.at.isoformat()})" if bad is not None else ""
    print(f"FAILED: case {case.external_ref} ({case.id}): {report.reason}{where}")
    return 1


async def inbound_replay(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.jobs.context import close_job_context, open_job_context  # the queue imports the job registry

    if bool(args.ids) == bool(args.all_failed):
        raise CommandError("give message ids, or --all-failed")
    ids = [parse_uuid(value, "ID") for value in args.ids]
    service_id = parse_uuid(args.service, "--service") if args.service else None
    ctx = await open_job_context(settings, with_senders=settings.redis_url is None)
    try:
        deps = InboundDeps(settings, ctx["sessions"], ctx["vault"], shared_renderer(), ctx["queue"], ctx.get("live"))
        if args.all_failed:
            ids = await failed_ids(deps, service_id)
        results = await replay(deps, ids)
    finally:
        await close_job_context(ctx)
    for result in results:
        stage = f" at {result.stage}" if result.stage else ""
        print(f"{result.inbound_id} {result.outcome}{stage}")
    print(f"{sum(r.outcome == 'processed' for r in results)} of {len(results)} processed")
    return 1 if any(r.outcome == "failed" for r in results) else 0


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


async def key_list(settings: Settings, args: argparse.Namespace) -> int:
    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            if await session.get(Service, service_id) is None:
                raise CommandError(f"no service with id {service_id}")
            found = await list_keys(session, service_id)
    finally:
        await engine.dispose()
    print("id\tname\ttype\tcreated by\tcreated\tlast used\trevoked")
    for k in found:
        when = (_when(k.created_at), _when(k.last_used_at), _when(k.revoked_at))
        print("\t".join([str(k.id), k.name, k.key_type, k.created_by or "-", *when]))
    return 0


async def key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    service_id = parse_uuid(args.service_id, "SERVICE_ID")
    engine = engine_from_settings(settings)
    try:
        async with session_factory(engine)() as session:
            try:
                row = await revoke_key(session, service_id, args.key, actor="cli")
            except AdminError as exc:
                raise CommandError(str(exc)) from None
            await session.commit()
    finally:
        await engine.dispose()
    print(f"revoked API key {row.name} ({row.id}); every gateway process refuses it within 5 seconds")
    return 0
