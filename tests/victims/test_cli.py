"""The operator's side: `gateway service update VSU --follows PAROLE` and `gateway events import FILE`."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from sqlalchemy import func, select

from gateway.db import OffenderEvent
from gateway.db.engine import make_engine, session_factory
from gateway.directory.cases import upsert_case
from tests.test_cli import gateway, home  # noqa: F401  (home is a fixture)


def _db(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder}/g.db"


def _add_case(folder: Path, service_id: str, reference: str) -> None:
    async def add() -> None:
        engine = make_engine(_db(folder))
        try:
            async with session_factory(engine)() as session:
                await upsert_case(session, uuid.UUID(service_id), reference, {"status": "open"}, "test")
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(add())


def _events(folder: Path, service_id: str) -> int:
    async def count() -> int:
        engine = make_engine(_db(folder))
        try:
            async with session_factory(engine)() as session:
                found = await session.scalar(
                    select(func.count()).where(OffenderEvent.service_id == uuid.UUID(service_id))
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def _create(folder: Path, name: str, kind: str) -> str:
    result = gateway(folder, "service", "create", name, "--kind", kind)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_follow_then_import_a_weekly_list(home: Path, tmp_path: Path) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:6]
    parole = _create(home, f"Parole {tag}", "supervision")
    vsu = _create(home, f"VSU {tag}", "victim_services")
    linked = gateway(home, "service", "update", vsu, "--follows", parole)
    assert linked.returncode == 0 and "now follows" in linked.stdout, linked.stderr
    again = gateway(home, "service", "update", vsu, "--follows", parole)
    assert "already follows" in again.stdout
    wrong = gateway(home, "service", "update", parole, "--follows", vsu)
    assert wrong.returncode == 2 and "only a victim_services service can follow" in wrong.stderr

    _add_case(home, parole, "C-1")
    sheet = tmp_path / "weekly.csv"
    sheet.write_text(
        "event_id,case_reference,kind,level,status,town\n"
        "w1,C-1,classification,2,preliminary,\n"
        "w2,C-404,classification,2,preliminary,\n"
        "w3,C-1,classification,5,final,\n"
        "w4,C-1,address_changed,,,Lowell\n"
    )
    bad = gateway(home, "events", "import", str(sheet), "--service", parole)
    assert bad.returncode == 1
    assert "row 3: case_reference C-404 is not a case of this service" in bad.stdout
    assert "row 4: details.level must be one of 1, 2, 3" in bad.stdout
    assert _events(home, parole) == 0  # nothing written while a row is bad
    dry = gateway(home, "events", "import", str(sheet), "--service", parole, "--dry-run", "--skip-bad-rows")
    assert dry.returncode == 0 and _events(home, parole) == 0
    skipped = gateway(home, "events", "import", str(sheet), "--service", parole, "--skip-bad-rows")
    assert skipped.returncode == 0 and "2 new" in skipped.stdout, skipped.stdout
    repeat = gateway(home, "events", "import", str(sheet), "--service", parole, "--skip-bad-rows")
    assert "0 new, 2 already known" in repeat.stdout
    assert _events(home, parole) == 2
    from_vsu = gateway(home, "events", "import", str(sheet), "--service", vsu)
    assert from_vsu.returncode == 1 and "must be an offender-facing service" in from_vsu.stdout
