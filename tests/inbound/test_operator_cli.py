"""`gateway record verify` and `gateway inbound replay`, run as an operator runs them: real subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import update

from gateway.db import Case, RecordEntry
from gateway.domain import RecordKind
from gateway.inbound.pipeline import run_pipeline
from gateway.record import append_entry
from handlers.identify import Identify
from tests.conftest import SECRET
from tests.factories import make_service
from tests.inbound.conftest import Gateway, add_person
from tests.inbound.test_pipeline import Exploding, deps, message, stored

ROOT = Path(__file__).resolve().parent.parent.parent
PHONE = "+12025550143"


async def gateway(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"GATEWAY_DATABASE_URL": database_url, "GATEWAY_SECRET_KEY": SECRET, "GATEWAY_LOG_LEVEL": "warning"}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_record_verify_passes_then_names_the_edited_entry(gw: Gateway, database_url: str) -> None:
    person = await add_person(gw, PHONE)
    for i in range(4):
        await append_entry(gw.sessions, person.case_id, RecordKind.NOTE, "officer:1", f"note {i}")
    ok = await gateway(database_url, "record", "verify", person.case_ref)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.startswith(f"OK: case {person.case_ref}") and "4 entries" in ok.stdout

    async with gw.sessions() as session:
        await session.execute(
            update(RecordEntry)
            .where(RecordEntry.case_id == person.case_id, RecordEntry.seq == 3)
            .values(summary="note 2 (quietly edited)")
        )
        await session.commit()
    bad = await gateway(database_url, "record", "verify", person.case_ref, "--service", str(gw.service.id))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad.stdout.startswith(f"FAILED: case {person.case_ref}")
    assert "entry 3 was changed after it was written" in bad.stdout and "entry id" in bad.stdout


async def test_record_verify_explains_missing_and_ambiguous_references(gw: Gateway, database_url: str) -> None:
    missing = await gateway(database_url, "record", "verify", "NO-SUCH-CASE")
    assert missing.returncode == 2 and "no case 'NO-SUCH-CASE'" in missing.stderr
    shared = f"SHARED-{uuid.uuid4().hex[:6]}"
    other_service = await make_service(gw.sessions, gw.vault)
    async with gw.sessions() as session:
        session.add(Case(service_id=gw.service.id, external_ref=shared))
        session.add(Case(service_id=other_service.id, external_ref=shared))
        await session.commit()
    ambiguous = await gateway(database_url, "record", "verify", shared)
    assert ambiguous.returncode == 2 and "pass --service" in ambiguous.stderr


async def test_inbound_replay_runs_a_failed_message_again(gw: Gateway, database_url: str) -> None:

    person = await add_person(gw, PHONE)
    inbound_id = await stored(gw, PHONE, "Checking in from work")
    assert await run_pipeline(deps(gw), inbound_id, chain=[Identify(), Exploding()]) == "failed"
    done = await gateway(database_url, "inbound", "replay", str(inbound_id))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{inbound_id} processed" in done.stdout and "1 of 1 processed" in done.stdout
    replayed = await message(gw, inbound_id)
    assert (replayed.state, replayed.stage, replayed.conversation_id is not None) == ("processed", None, True)
    assert [e.kind for e in await gw.record(person.case_id)] == ["handler", "inbound"]
    again = await gateway(database_url, "inbound", "replay", str(inbound_id))
    assert again.returncode == 0 and "skipped (processed)" in again.stdout
    usage = await gateway(database_url, "inbound", "replay")
    assert usage.returncode == 2 and "--all-failed" in usage.stderr
