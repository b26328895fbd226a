"""Returned mail: the mail house's report marks printed letters `returned-letter`, once, by id or reference."""

from __future__ import annotations

from gateway.db.base import utcnow
from gateway.letters import batch as batches
from gateway.letters.returned import read_report, record_returned
from tests.letters.test_batch import send, statuses


def test_report_lines() -> None:
    text = "notification_id,reason\n 7f6c2b0e-0000-4000-8000-000000000001 ,moved\n\nref-2\n"
    assert read_report(text) == ["7f6c2b0e-0000-4000-8000-000000000001", "ref-2"]


async def test_returned_mail_by_id_and_reference(client, service, sessions, letters_ctx) -> None:  # type: ignore[no-untyped-def]
    by_id, by_ref, not_printed = await send(client, service), await send(client, service, reference="r-9"), None
    from tests.letters.helpers import settle

    await settle(client)
    await batches.run_batch(letters_ctx, service.id, now=utcnow())
    not_printed = await send(client, service)
    await settle(client)
    report = await record_returned(letters_ctx, [str(by_id), "r-9", str(not_printed), "nope"], service.id)
    assert sorted(report.returned) == sorted([by_id, by_ref])
    assert report.unchanged == [str(not_printed)] and report.unknown == ["nope"]
    assert await statuses(sessions, [by_id, by_ref, not_printed]) == {
        by_id: "returned-letter",
        by_ref: "returned-letter",
        not_printed: "accepted",
    }
    again = await record_returned(letters_ctx, [str(by_id)], None)  # a report read twice changes nothing
    assert again.returned == [] and again.unchanged == [str(by_id)]
    assert (await record_returned(letters_ctx, ["r-9"], None)).unknown == ["r-9"]  # a reference needs its service
    other = await record_returned(letters_ctx, [str(by_id)], __import__("uuid").uuid4())  # another service's id
    assert other.unknown == [str(by_id)]
