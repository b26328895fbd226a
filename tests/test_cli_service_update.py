"""`gateway service update`: senders, limits and callbacks, validated, audited, secrets sealed."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.crypto import Vault
from gateway.db import AuditEntry, Service
from gateway.db.engine import make_engine, session_factory
from gateway.settings import SECRET_FILE
from tests.test_cli import gateway, home, service_create  # noqa: F401  (home is a fixture)


def _read(folder: Path, service_id: str) -> tuple[Service, list[AuditEntry]]:
    async def read() -> tuple[Service, list[AuditEntry]]:
        engine = make_engine(f"sqlite+aiosqlite:///{folder}/g.db")
        try:
            async with session_factory(engine)() as session:
                service = await session.get(Service, uuid.UUID(service_id))
                audit = (await session.scalars(select(AuditEntry).where(AuditEntry.target == service_id))).all()
                assert service is not None
                return service, list(audit)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_update_sets_senders_and_seals_the_callback_token(home: Path) -> None:  # noqa: F811
    sid = service_create(home, f"Update office {uuid.uuid4().hex[:6]}")
    done = gateway(
        home,
        "service",
        "update",
        sid,
        "--sms-sender",
        "(202) 555-0199",
        "--email-from",
        "Notices@Agency.Example",
        "--callback-url",
        "https://cms.agency.example/receipts",
        "--callback-token",
        "s3cret-token-123",
        "--sms-per-second",
        "30",
        "--timezone",
        "America/Denver",
    )
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout
    service, audit = _read(home, sid)
    assert service.sms_sender == "+12025550199"
    assert service.email_from == "Notices@agency.example"
    assert service.sms_per_second == 30
    assert service.timezone == "America/Denver"
    assert service.callback_token_enc and "s3cret" not in service.callback_token_enc
    vault = Vault((home / SECRET_FILE).read_text().strip())
    assert vault.open(service.callback_token_enc) == "s3cret-token-123"
    assert any(a.action == "service.update" and "s3cret" not in str(a.detail) for a in audit)


def test_update_sets_quiet_hours(home: Path) -> None:  # noqa: F811
    sid = service_create(home, f"Quiet office {uuid.uuid4().hex[:6]}")
    assert gateway(home, "service", "update", sid, "--quiet-hours", "Strict").returncode == 0
    assert _read(home, sid)[0].quiet_hours == "strict"
    assert gateway(home, "service", "update", sid, "--quiet-hours", "07:30-20:00").returncode == 0
    assert _read(home, sid)[0].quiet_hours == "07:30-20:00"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--sms-sender", "not-a-number", "sms sender"),
        ("--email-from", "nobody", "email from"),
        ("--callback-url", "http://cms.agency.example/r", "https"),
        ("--callback-token", "short", "at least 10"),
        ("--daily-limit", "0", "at least 1"),
        ("--reply-domain", "no spaces allowed.example", "domain"),
        ("--timezone", "Mars/Olympus", "timezone: 'Mars/Olympus' is not a time zone name"),
        ("--quiet-hours", "21:00-08:00", "quiet hours: '21:00-08:00': the window must open before it closes"),
        ("--quiet-hours", "always", "quiet hours: 'always' is not a sending window"),
    ],
)
def test_update_refuses_bad_values_with_a_clear_line(home: Path, option: str, value: str, message: str) -> None:  # noqa: F811
    sid = service_create(home, f"Bad update {uuid.uuid4().hex[:6]}")
    done = gateway(home, "service", "update", sid, option, value)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_update_unknown_service_and_nothing_to_change(home: Path) -> None:  # noqa: F811
    missing = gateway(home, "service", "update", str(uuid.uuid4()), "--daily-limit", "5")
    assert missing.returncode == 2 and "no service" in missing.stderr
    sid = service_create(home, f"Empty update {uuid.uuid4().hex[:6]}")
    empty = gateway(home, "service", "update", sid)
    assert empty.returncode == 2 and "nothing to change" in empty.stderr


def test_one_sms_sender_belongs_to_one_service(home: Path) -> None:  # noqa: F811
    first = service_create(home, f"Sender owner {uuid.uuid4().hex[:6]}")
    second = service_create(home, f"Sender taker {uuid.uuid4().hex[:6]}")
    assert gateway(home, "service", "update", first, "--sms-sender", "+12025550177").returncode == 0
    taken = gateway(home, "service", "update", second, "--sms-sender", "+12025550177")
    assert taken.returncode == 2 and "already used" in taken.stderr
    assert gateway(home, "service", "update", first, "--sms-sender", "+12025550177").returncode == 0  # its own
