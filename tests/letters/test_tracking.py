"""Certified Mail tracking numbers from the mail house's report: all-or-nothing checks with every
problem by line, recorded on the letter (the API's `tracking_number` extension) and in its case record,
and a report read twice changing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, update

from gateway.db import Notification, RecordEntry
from gateway.db.base import utcnow
from gateway.letters import batch as batches
from gateway.letters.tracking import TrackingReportError, normalise_tracking, record_tracking
from tests.api.test_auth import bearer
from tests.letters.helpers import settle
from tests.letters.test_batch import send
from tests.test_cli import gateway
from tests.web.cases import make_case

NUMBER = "9407 1000 0000 0000 0000 01"


def test_tracking_number_forms() -> None:
    assert normalise_tracking(NUMBER) == "9407100000000000000001"
    assert normalise_tracking("7019-0700-0000-1234-5678") == "70190700000012345678"
    assert normalise_tracking("rr123456785us") == "RR123456785US"
    assert normalise_tracking("12345") is None and normalise_tracking("RR123456785GB") is None


async def tracking_of(sessions, nid):  # type: ignore[no-untyped-def]
    async with sessions() as db:
        return await db.scalar(select(Notification.tracking_number).where(Notification.id == nid))


async def test_tracking_report(client, service, sessions, vault, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    certified = await send(client, service, postage="certified", reference="cert-1")
    first_class = await send(client, service)
    await settle(client)
    case = await make_case(sessions, vault, service.id)
    async with sessions() as db:
        await db.execute(update(Notification).where(Notification.id == certified).values(case_id=case.case_id))
        await db.commit()
    await batches.run_batch(letters_ctx, service.id, now=utcnow())
    not_printed = await send(client, service, postage="certified")
    await settle(client)

    bad = "\n".join(
        [
            "notification_id,tracking_number",
            f"{certified},{NUMBER}",
            f"{first_class},9407100000000000000002",
            f"{not_printed},9407100000000000000003",
            "7f6c2b0e-0000-4000-8000-000000000001,9407100000000000000004",
            f"{certified},123",
            "just-one-cell",
        ]
    )
    with pytest.raises(TrackingReportError) as refused:
        await record_tracking(letters_ctx, bad, service.id)
    assert refused.value.problems == [
        "line 6: '123' is not a USPS tracking number (20-22 digits, or AA123456789US)",
        "line 7: expected two cells: notification id or reference, tracking number",
        f"line 3: letter {first_class} is not Certified Mail (postage first)",
        f"line 4: letter {not_printed} has not been printed yet (status accepted)",
        "line 5: no letter '7f6c2b0e-0000-4000-8000-000000000001'",
    ]
    assert await tracking_of(sessions, certified) is None  # nothing recorded from a refused report

    done = await record_tracking(letters_ctx, f"cert-1,{NUMBER}\n", service.id)
    assert done.recorded == [certified] and done.unchanged == []
    assert await tracking_of(sessions, certified) == "9407100000000000000001"
    again = await record_tracking(letters_ctx, f"{certified},{NUMBER}\n", None)
    assert again.recorded == [] and again.unchanged == [certified]
    with pytest.raises(TrackingReportError, match="already has the tracking number 9407100000000000000001"):
        await record_tracking(letters_ctx, f"{certified},9407100000000000000009\n", service.id)
    with pytest.raises(TrackingReportError, match="no letter"):  # another service's letter is not found
        await record_tracking(letters_ctx, f"{certified},{NUMBER}\n", not_printed)

    shown = await (
        await client.get(f"/v2/notifications/{certified}", headers=bearer(service.live_key, service.id))
    ).json()
    assert shown["tracking_number"] == "9407100000000000000001" and shown["postage"] == "certified"
    async with sessions() as db:
        summaries = (
            await db.scalars(
                select(RecordEntry.summary).where(RecordEntry.case_id == case.case_id).order_by(RecordEntry.seq)
            )
        ).all()
    assert summaries == ["letter message received", "Certified Mail tracking number 9407100000000000000001"]


def test_tracking_cli_refuses_a_bad_report(tmp_path: Path) -> None:
    assert gateway(tmp_path, "migrate").returncode == 0
    report = tmp_path / "tracking.csv"
    report.write_text("7f6c2b0e-0000-4000-8000-000000000001,9407100000000000000004\nref-1,12\n")
    refused = gateway(tmp_path, "letters", "tracking", str(report))
    assert refused.returncode == 2
    assert "nothing recorded" in refused.stderr
    assert "line 1: no letter '7f6c2b0e-0000-4000-8000-000000000001'" in refused.stderr
    assert "line 2: '12' is not a USPS tracking number" in refused.stderr
