"""Letters benchmark: 10,000 letters made ready (the letter channel) and printed in one batch.

    .venv/bin/python bench/letters.py [--letters 10000] [--database sqlite|postgres]

Writes 10,000 letter notifications (Core insert, as the API's intake writer does), runs the real
delivery job over them (the letter channel: content fixed, pages counted, sealed), then one print
batch (`run_batch`: cut, mark `received`, one PDF + manifest). Prints the time of each step and the
process's peak RSS. The batch target is <= 3 minutes and <= 500 MB on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.api.intake import insert_notifications
from gateway.crypto import Vault
from gateway.db.base import utcnow
from gateway.db.engine import make_engine, session_factory
from gateway.db.migrate import upgrade_async
from gateway.domain import Channel, KeyType
from gateway.jobs.context import close_job_context, open_job_context
from gateway.jobs.delivery import deliver
from gateway.letters.address import from_personalisation
from gateway.letters.batch import run_batch
from gateway.logs import configure_logging
from gateway.outbound import prepare_notification
from gateway.settings import Settings
from gateway.template_store import TemplateStore
from gateway.templating import Renderer, load_catalog, sync_templates
from tests.factories import make_service

SECRET = "bench-secret-" + "y" * 40
LETTER = "1c7d521d-3e40-4bc5-931b-86080dae94f6"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(count: int, folder: Path) -> None:
    url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    settings = Settings(
        _env_file=None,
        database_url=url,
        secret_key=SECRET,
        log_level="error",  # type: ignore[call-arg]
        letters_dir=folder / "batches",
        # the sweeper would cut the same batch beside `run_batch` below: one runner, timed alone
        sweep_interval_seconds=86_400,
    )
    configure_logging("error")
    await upgrade_async(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    async with sessions() as session:
        await sync_templates(session, load_catalog(settings.templates_dir))
        await session.commit()
    vault = Vault(SECRET)
    service = await make_service(sessions, vault)
    template = await TemplateStore(sessions).get(service.id, uuid.UUID(LETTER))
    renderer = Renderer()
    started = time.perf_counter()
    rows = []
    for n in range(count):
        personalisation = {
            "address_line_1": f"Recipient {n}", "address_line_2": f"{n % 900 + 1} Elm Street",
            "address_line_3": "Springfield, IL 62704", "victim_name": f"Recipient {n}", "offender_name": "J. Doe",
            "facility": "Central Facility", "release_date": "December 1, 2026", "advocate_name": "Sam Rivera",
            "advocate_phone": "(217) 555-0101",
        }  # fmt: skip
        address = from_personalisation(personalisation)
        rows.append(prepare_notification(
            vault=vault, renderer=renderer, template=template, channel=Channel.LETTER, recipient=address.as_text(),
            personalisation=personalisation, service_id=service.id, key_type=KeyType.LIVE, postage="first",
        ).row)  # fmt: skip
    async with engine.begin() as conn:
        for at in range(0, count, 500):
            await insert_notifications(conn, rows[at : at + 500])
    accepted_at = time.perf_counter()
    print(f"intake (validate, render, insert) {count} letters: {accepted_at - started:.1f} s")
    ctx = await open_job_context(settings, engine=engine)
    ids = [r["id"] for r in rows]
    for at in range(0, count, 100):
        await deliver(ctx, ids[at : at + 100])
    made = time.perf_counter()
    print(f"letter channel (content fixed, pages counted, sealed): {made - accepted_at:.1f} s "
          f"({(made - accepted_at) / count * 1000:.2f} ms a letter)")  # fmt: skip
    reports = await run_batch(ctx, service.id, now=utcnow())
    done = time.perf_counter()
    [report] = reports
    size = Path(report.pdf_path).stat().st_size / 1e6  # noqa: ASYNC240
    print(f"print batch (cut, mark received, PDF + manifest): {done - made:.1f} s; {report.letters} letters, "
          f"{report.sheets} sheets, PDF {size:.1f} MB")  # fmt: skip
    print(f"channel + batch: {done - accepted_at:.1f} s; peak RSS {peak_mb():.0f} MB")
    await close_job_context(ctx)
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(main(args.letters, Path(folder)))
