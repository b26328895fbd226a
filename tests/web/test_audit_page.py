"""The audit log page, /admin/audit: admins and supervisors, one service only, filters, keyset paging.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.crypto import Vault
from gateway.db import AuditEntry
from gateway.db.base import utcnow
from tests.factories import ServiceUnderTest, make_service
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]

ROW = re.compile(r'<tr data-entry="(\d+)">(.*?)</tr>', re.S)
OLDER = re.compile(r'<a href="([^"]+)" rel="next">Older entries</a>')


async def _add(sessions: Sessions, service_id: uuid.UUID, *entries: dict[str, Any]) -> list[int]:
    """Audit rows written straight to the database; their ids, in the order given."""
    rows = [AuditEntry(service_id=service_id, **entry) for entry in entries]
    async with sessions() as db:
        db.add_all(rows)
        await db.commit()
    return [row.id for row in rows]


def _rows(page: str) -> list[tuple[int, str]]:
    return [(int(entry_id), cells) for entry_id, cells in ROW.findall(page)]


async def _get(client: Client, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status, await response.text()


async def test_an_admin_sees_the_service_log_newest_first_with_names(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    person = await staff_factory(service.id, name="Pat <Person>")
    other = await make_service(sessions, vault)
    outsider = await staff_factory(other.id, name="Olga Outsider")
    base = utcnow() - timedelta(days=1)
    oldest, middle, newest = await _add(
        sessions,
        service.id,
        {"at": base, "actor": f"staff:{person.id}", "action": "victim.view", "target": "reg-1"},
        {"at": base + timedelta(minutes=1), "actor": "cli", "action": "service.update", "detail": {"changed": ["a"]}},
        {
            "at": base + timedelta(minutes=2),
            "actor": f"staff:{admin.id}",
            "action": "staff.unlock",
            "target": str(person.id),
            "detail": {"reason": "<b>x</b>", "tries": 3},
        },
    )
    [foreign] = await _add(
        sessions,
        other.id,
        {"at": base + timedelta(minutes=3), "actor": f"staff:{outsider.id}", "action": "other.secret"},
    )
    await sign_in(client, admin)

    status, page = await _get(client, "/admin/audit")
    assert status == 200
    rows = _rows(page)
    ids = [entry_id for entry_id, _ in rows]
    assert ids.index(newest) < ids.index(middle) < ids.index(oldest)
    assert ids[0] > newest  # today's sign-in of the admin comes first
    cells = dict(rows)
    assert "Pat &lt;Person&gt;" in cells[oldest] and f"staff:{person.id}" not in cells[oldest]
    assert "<td>cli</td>" in cells[middle] and "changed=a" in cells[middle]
    assert admin.name in cells[newest] and "Pat &lt;Person&gt;" in cells[newest]  # actor and target named
    assert "reason=&lt;b&gt;x&lt;/b&gt;" in cells[newest] and "tries=3" in cells[newest]
    assert "<b>x</b>" not in page
    # Nothing of the other service: not its entries, not its staff.
    assert foreign not in ids
    assert "other.secret" not in page and "Olga Outsider" not in page
    # Linked from the admin area, in accessible markup.
    assert 'href="/admin/audit"' in await (await client.get("/admin/staff")).text()
    assert '<th scope="col">Who</th>' in page and '<label for="actor">Who</label>' in page


async def test_only_admins_and_supervisors_see_it(
    make_client: Callable[..., Awaitable[Client]], service: ServiceUnderTest, staff_factory: StaffFactory
) -> None:
    officer = await staff_factory(service.id, roles=("officer",))
    advocate = await staff_factory(service.id, roles=("victim_advocate",))
    supervisor = await staff_factory(service.id, roles=("supervisor",))
    for person in (officer, advocate):
        browser = await make_client()
        await sign_in(browser, person)
        assert 'href="/admin/audit"' not in await (await browser.get("/inbox")).text()  # not offered ...
        response = await browser.get("/admin/audit")  # ... and refused, as every admin page is
        assert response.status == 403 and "does not have access" in await response.text()
    browser = await make_client()
    await sign_in(browser, supervisor)
    nav = await (await browser.get("/inbox")).text()
    assert 'href="/admin/audit"' in nav and 'href="/admin/staff"' not in nav
    status, page = await _get(browser, "/admin/audit")
    assert status == 200 and 'href="/admin/audit" aria-current="page"' in page
    assert 'href="/admin/staff"' not in page  # the staff pages stay admin-only


async def test_action_actor_and_date_filters(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    person = await staff_factory(service.id, name="Pat Person")
    day = datetime(2024, 3, 1, 12, tzinfo=UTC)
    failed, ok, lookalike, view, escaped, later = await _add(
        sessions,
        service.id,
        {"at": day, "actor": f"staff:{person.id}", "action": "login.failed"},
        {"at": day, "actor": f"staff:{admin.id}", "action": "login.ok"},
        {"at": day, "actor": f"staff:{person.id}", "action": "loginx.ok"},
        {"at": day + timedelta(days=2), "actor": f"staff:{person.id}", "action": "victim.view"},
        {"at": day, "actor": "cli", "action": "axb.c"},  # "_" must not match any character
        {"at": day + timedelta(days=3), "actor": "cli", "action": "login.ok"},
    )
    await sign_in(client, admin)

    async def shown(query: str) -> set[int]:
        status, page = await _get(client, f"/admin/audit?{query}")
        assert status == 200, page
        return {entry_id for entry_id, _ in _rows(page)}

    mine = {failed, ok, lookalike, view, escaped, later}
    assert {failed, ok, later} <= await shown("action=login.")
    assert (await shown("action=login.")).isdisjoint({lookalike, view, escaped})
    assert await shown("action=login.failed") == {failed}
    assert await shown("action=a_b.") == set()
    assert await shown("action=axb.") == {escaped}
    assert await shown(f"actor={person.id}") == {failed, lookalike, view}
    assert await shown(f"actor={person.id}&action=login.") == {failed}
    assert (await shown("from=2024-03-01&to=2024-03-03")) & mine == {failed, ok, lookalike, escaped, view}
    assert (await shown("from=2024-03-02&to=2024-03-03")) & mine == {view}
    status, page = await _get(client, f"/admin/audit?actor={person.id}&from=2024-03-01")
    assert status == 200
    assert f'<option value="{person.id}" selected>Pat Person</option>' in page
    assert 'value="2024-03-01"' in page


async def test_bad_filters_are_a_400_with_the_reason(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    outsider = await staff_factory((await make_service(sessions, vault)).id)
    await sign_in(client, admin)
    before = len(await audit_rows(sessions, service.id, action="audit.view"))
    cases = {
        "from=2024-13-01": "From must be a date such as 2024-03-31.",
        "to=yesterday": "To must be a date such as 2024-03-31.",
        "to=9999-12-31": "To must be a date such as 2024-03-31.",
        "from=2024-03-02&to=2024-03-01": "From must be on or before To.",
        f"actor={outsider.id}": "Choose who from the list of staff of this service.",
        "actor=not-a-uuid": "Choose who from the list of staff of this service.",
        "action=%3Cscript%3E": "Action must be an action name",
        "older_than=1%20OR%201=1": "The link to older entries is not valid.",
    }
    for query, message in cases.items():
        status, page = await _get(client, f"/admin/audit?{query}")
        assert status == 400, query
        assert message in page, query
        assert 'data-testid="audit-log"' not in page
    status, page = await _get(client, "/admin/audit?action=%3Cscript%3E")
    assert "<script>" not in page and 'value="&lt;script&gt;"' in page
    assert len(await audit_rows(sessions, service.id, action="audit.view")) == before  # nothing was shown


async def test_paging_by_keyset_never_repeats(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    other = await make_service(sessions, vault)
    start = utcnow() - timedelta(hours=5)
    # 150 entries, many sharing a time (ties are broken by id), and others in another service.
    ids = await _add(
        sessions,
        service.id,
        *({"at": start + timedelta(seconds=n // 7), "actor": "cli", "action": "bulk.write"} for n in range(150)),
    )
    await _add(sessions, other.id, *({"at": start, "actor": "cli", "action": "bulk.write"} for _ in range(20)))
    await sign_in(client, admin)

    status, page = await _get(client, "/admin/audit?action=bulk.")
    assert status == 200
    first = [entry_id for entry_id, _ in _rows(page)]
    assert len(first) == 100
    [link] = OLDER.findall(page)
    link = html.unescape(link)
    assert "action=bulk." in link and "older_than=" in link and "offset" not in link
    status, page = await _get(client, link)
    assert status == 200
    second = [entry_id for entry_id, _ in _rows(page)]
    assert len(second) == 50 and not OLDER.findall(page)
    assert "Newest entries" in page
    assert set(first).isdisjoint(second)
    assert sorted(first + second) == sorted(ids)
    expected = sorted(ids, key=lambda i: (start + timedelta(seconds=ids.index(i) // 7), i), reverse=True)
    assert first + second == expected

    # An anchor of another service gives an empty page, not its neighbours.
    [foreign] = await _add(sessions, other.id, {"at": start, "actor": "cli", "action": "bulk.write"})
    status, page = await _get(client, f"/admin/audit?action=bulk.&older_than={foreign}")
    assert status == 200 and _rows(page) == [] and "No entries match." in page


async def test_viewing_the_log_is_audited(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    person = await staff_factory(service.id, name="Pat Person")
    await sign_in(client, admin)
    assert (await client.get("/admin/audit")).status == 200
    query = f"/admin/audit?action=login.&actor={person.id}&from=2024-01-01&to=2024-12-31"
    assert (await client.get(query)).status == 200
    first, second = await audit_rows(sessions, service.id, action="audit.view")
    assert (first.actor, first.detail, first.outcome) == (f"staff:{admin.id}", None, "ok")
    assert second.actor == f"staff:{admin.id}"
    assert second.detail == {
        "action": "login.",
        "actor": f"staff:{person.id}",
        "from": "2024-01-01",
        "to": "2024-12-31",
    }
    # ... and the next view shows it.
    status, page = await _get(client, "/admin/audit?action=audit.view")
    assert status == 200
    assert [entry_id for entry_id, _ in _rows(page)] == [second.id, first.id]
    assert "actor=staff:" in page  # the filter is recorded by id, as the log names people
