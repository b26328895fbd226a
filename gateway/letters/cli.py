"""`gateway letters batch [--now] [--service ID]`, `gateway letters returned FILE [--service ID]` and
`gateway letters tracking FILE [--service ID]`.

`batch` without `--now` does what the scheduler does at each tick (services past today's cutoff);
`--now` cuts a batch of every accepted letter at once. `returned` reads the mail house's report of
returned mail, `tracking` its report of Certified Mail tracking numbers (all or nothing: exit 2 with
every problem by line number).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from pathlib import Path

from gateway.db.base import utcnow
from gateway.settings import Settings


def _service(args: argparse.Namespace) -> uuid.UUID | None:
    from gateway.cli import parse_uuid

    return parse_uuid(args.service, "--service") if args.service else None


async def letters_batch(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.jobs.context import close_job_context, open_job_context
    from gateway.letters.batch import run_batch
    from gateway.letters.schedule import batch_due_letters, services_with_letters

    only = _service(args)
    ctx = await open_job_context(settings, with_senders=False)
    try:
        now = utcnow()
        if args.now:
            services = [only] if only else list(await services_with_letters(ctx))
            reports = [r for s in services for r in await run_batch(ctx, s, now=now)]
        else:
            reports = [r for r in await batch_due_letters(ctx, now) if only is None or r.service_id == only]
    finally:
        await close_job_context(ctx)
    for r in reports:
        print(f"batch {r.batch_id} service {r.service_id} day {r.day}: {r.letters} letters, {r.sheets} sheets")
        print(f"  {r.pdf_path}\n  {r.manifest_path}")
    if not reports:
        print("no letters to print")
    return 0


async def letters_returned(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.commands import CommandError
    from gateway.jobs.context import close_job_context, open_job_context
    from gateway.letters.returned import read_report, record_returned

    try:
        entries = read_report(await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from None
    ctx = await open_job_context(settings, with_senders=False)
    try:
        report = await record_returned(ctx, entries, _service(args))
    finally:
        await close_job_context(ctx)
    print(f"{len(report.returned)} returned, {len(report.unchanged)} unchanged, {len(report.unknown)} not found")
    for entry in report.unknown:
        print(f"  not found: {entry}")
    return 1 if report.unknown else 0


async def letters_tracking(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.commands import CommandError
    from gateway.jobs.context import close_job_context, open_job_context
    from gateway.letters.tracking import TrackingReportError, record_tracking

    try:
        text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from None
    ctx = await open_job_context(settings, with_senders=False)
    try:
        result = await record_tracking(ctx, text, _service(args))
    except TrackingReportError as exc:
        raise CommandError(f"{args.file}: nothing recorded:\n  " + "\n  ".join(exc.problems)) from None
    finally:
        await close_job_context(ctx)
    print(f"{len(result.recorded)} tracking numbers recorded, {len(result.unchanged)} unchanged")
    return 0
