"""`/account/alerts` over HTTP: a member of staff sets their own alerts and absence; bad input is a
400 with the reason and nothing stored; a save redirects (POST-redirect-GET) and is audited."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import StaffUser
from tests.factories import ServiceUnderTest, make_service
from tests.web.cases import set_service
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in
from tests.web.test_case_page import Client


async def test_alerts_and_absence_are_saved_on_the_services_clock(
    make_client,  # type: ignore[no-untyped-def]
    staff_factory: StaffFactory,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    vault: Vault,
) -> None:
    await set_service(sessions, service.id, timezone="America/Chicago")
    officer = await staff_factory(service.id, name="Olive Officer")
    cover = await staff_factory(service.id, name="Dana Demo")
    other = await staff_factory((await make_service(sessions, vault)).id, name="Elsewhere Person")
    http: Client = await make_client()
    await sign_in(http, officer)
    page = await (await http.get("/account/alerts")).text()
    assert "Dana Demo" in page and "Elsewhere Person" not in page and "Olive Officer</option>" not in page
    token = await csrf_from(http, "/account/alerts")
    good = {
        "csrf_token": token,
        "alert_new_messages": "yes",
        "digest_after_hours": "24",
        "away_from": "2030-03-09",
        "away_until": "2030-03-10",
        "out_of_office": "Away until Monday; Dana Demo is covering.",
        "covering_staff_id": str(cover.id),
    }
    for change, reason in (
        ({"away_until": ""}, "Give both the first and the last day"),
        ({"away_until": "2030-03-01"}, "cannot be before the first"),
        ({"out_of_office": ""}, "Write the auto-reply"),
        ({"digest_after_hours": "5"}, "Choose how long a reply waits"),
        ({"covering_staff_id": str(other.id)}, "Choose a colleague in this service"),
        ({"away_from": "next week"}, "must be a date"),
    ):
        refused = await http.post("/account/alerts", data={**good, **change})
        assert refused.status == 400 and reason in await refused.text(), change
    async with sessions() as db:
        assert (await db.get_one(StaffUser, officer.id)).away_from is None, "nothing stored"

    saved = await http.post("/account/alerts", data=good, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/account/alerts?done=saved"
    async with sessions() as db:
        user = await db.get_one(StaffUser, officer.id)
    assert user.alert_new_messages and user.digest_after_hours == 24 and user.covering_staff_id == cover.id
    # 9 March 2030 00:00 in Chicago is 06:00 UTC (CST); the day after the 10th (DST began that night) 05:00 UTC
    assert user.away_from == datetime(2030, 3, 9, 6, 0, tzinfo=UTC)
    assert user.away_until == datetime(2030, 3, 11, 5, 0, tzinfo=UTC)
    page = await (await http.get("/account/alerts?done=saved")).text()
    assert 'role="status"' in page and 'value="2030-03-10"' in page and "selected>Dana Demo" in page
    [entry] = await audit_rows(sessions, service.id, action="staff.alerts")
    assert entry.detail is not None and entry.detail["out_of_office"] == "True" and "Away" not in str(entry.detail)
