"""`gateway import people|cases|appointments FILE --service ID`: the import from the command line.

Prints what it found (and, for `--full`, how many open cases it would close) before anything is
written, the first 50 errors with row and column, and a progress bar on stderr. Exit 0 when the
import was written (or a dry run found no errors), 1 when bad rows or a refused full refresh
stopped it, 2 for a file that cannot be read at all.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import TextIO

from gateway.clock import SYSTEM_CLOCK
from gateway.crypto import Vault
from gateway.db import AuditEntry, Service
from gateway.db.engine import engine_from_settings, session_factory
from gateway.directory.importer import ImportOptions, ImportReport, import_table
from gateway.jobs.delivery import enqueue_deliveries
from gateway.jobs.queue import ArqQueue
from gateway.settings import Settings

BAR_WIDTH = 30


class ProgressBar:
    """A plain-text bar redrawn in place on a terminal (one line per stage elsewhere)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out, self.stage, self.last = out, "", 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == self.stage and done < total and now - self.last < 0.2:
            return
        self.last = now
        share = done / total if total else 1.0
        filled = int(share * BAR_WIDTH)
        line = f"{stage:<9} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:4.0%} {done}/{total}"
        if self.out.isatty():
            self.out.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or stage != self.stage:
            self.out.write(line + "\n")
        self.stage = stage
        self.out.flush()


async def _deliver(settings: Settings, ids: list[uuid.UUID]) -> None:
    """Hand what the appointments' reminders hook queued to delivery: on Redis when scaled; embedded, the
    running gateway's sweeper finds the committed rows itself."""
    if not ids or not settings.redis_url:
        return
    queue = await ArqQueue.connect(settings)
    try:
        await enqueue_deliveries(queue, ids)
    finally:
        await queue.close()


def print_report(report: ImportReport, options: ImportOptions) -> None:
    for error in report.errors:
        print(f"  {error}")
    if report.error_count > len(report.errors):
        print(f"  ... and {report.error_count - len(report.errors)} more errors")
    if options.full and report.kind == "cases":
        print(f"full refresh: {report.closed} open cases are not in the file and would be closed")
    if options.full and report.kind == "appointments":
        print(f"full refresh: {report.cancelled} upcoming appointments are not in the file and would be cancelled")
    if report.refused:
        print(f"refused: {report.refused}")
    elif report.error_count and not options.skip_bad_rows:
        print(f"nothing written: {report.error_count} bad rows (fix them, or use --skip-bad-rows)")
    label = "dry run" if options.dry_run else "imported" if report.written else "checked"
    print(f"{label}: {report.summary()}")


async def run_import(settings: Settings, args: argparse.Namespace, kind: str, service_id: uuid.UUID) -> int:
    path = Path(args.file)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(f"gateway import: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    options = ImportOptions(
        dry_run=args.dry_run,
        skip_bad_rows=args.skip_bad_rows,
        full=getattr(args, "full", False),
        force=getattr(args, "force", False),
        region=settings.default_region,
        now=SYSTEM_CLOCK.now(),
    )
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            if await db.get(Service, service_id) is None:
                print(f"gateway import: no service {service_id}", file=sys.stderr)
                return 2
        bar = ProgressBar() if not args.quiet else None
        report = await import_table(
            sessions, engine, Vault(settings.secret), service_id, kind, data, path.name, options, "cli:import", bar
        )
        if report.written:
            async with sessions() as db:
                detail = {"file": path.name, "created": report.created, "updated": report.updated}
                detail.update(closed=report.closed, unchanged=report.unchanged, skipped=report.skipped)
                if kind == "appointments":
                    detail["cancelled"] = report.cancelled
                db.add(
                    AuditEntry(
                        service_id=service_id,
                        actor="cli:import",
                        action=f"import.{kind}",
                        target=path.name,
                        detail=detail,
                    )
                )
                await db.commit()
            await _deliver(settings, report.deliver)
    finally:
        await engine.dispose()
    print_report(report, options)
    if report.rows == 0 and report.error_count and report.errors[0].row == 1:
        return 2
    return 0 if (report.written or (options.dry_run and not report.error_count and not report.refused)) else 1
