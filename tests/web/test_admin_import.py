"""The admin import page: upload a .csv or .xlsx of people, see counts and the first errors by row
and column; a dry run or a bad row writes nothing; admins only, CSRF-checked, audited without row
contents. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re

import openpyxl
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from tests.directory.people import counts
from tests.directory.test_import import cases_csv, people_csv
from tests.factories import ServiceUnderTest
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


def form(token: str | None, data: bytes, filename: str = "export.csv", kind: str = "people", **flags: bool) -> FormData:
    body = FormData()
    if token is not None:
        body.add_field("csrf_token", token)
    body.add_field("kind", kind)
    body.add_field("file", io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    for name, on in flags.items():
        if on:
            body.add_field(name, "yes")
    return body


def count(page: str, label: str) -> int:
    found = re.search(rf'<th scope="row">{label}</th><td>(\d+)</td>', page)
    assert found, label
    return int(found.group(1))


async def test_an_admin_imports_people_after_a_dry_run(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    form_page = await (await client.get("/admin/import")).text()
    assert '<a href="/admin/import" aria-current="page">Import</a>' in form_page
    assert 'enctype="multipart/form-data"' in form_page and 'accept=".csv,.xlsx"' in form_page
    token = await csrf_from(client, "/admin/import")

    dry = await client.post("/admin/import", data=form(token, people_csv(3), dry_run=True))
    page = await dry.text()
    assert dry.status == 200, page
    assert (count(page, "Rows"), count(page, "Created")) == (3, 3)
    assert "This was a dry run: nothing was written." in page
    assert await counts(sessions, service.id) == (0, 0)

    done = await client.post("/admin/import", data=form(token, people_csv(3)))
    page = await done.text()
    assert done.status == 200 and "The people were written." in page and count(page, "Created") == 3
    assert await counts(sessions, service.id) == (3, 3)
    again = await (await client.post("/admin/import", data=form(token, people_csv(3)))).text()
    assert (count(again, "Created"), count(again, "Unchanged")) == (0, 3)

    rows = await audit_rows(sessions, service.id, action="directory.import")
    assert [row.actor for row in rows] == [f"staff:{admin.id}"] * 3
    assert rows[1].detail == {
        "kind": "people",
        "filename": "export.csv",
        "counts": {"rows": 3, "created": 3, "updated": 0, "unchanged": 0, "closed": 0, "skipped": 0, "errors": 0},
        "written": True,
    }
    assert rows[0].detail["written"] is False
    assert "Number1" not in str([row.detail for row in rows])  # never row contents


async def test_a_bad_row_is_named_and_nothing_is_written(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    data = people_csv(2) + b"P-9,,Last,,en,,,,\n"
    response = await client.post("/admin/import", data=form(token, data))
    page = await response.text()
    assert response.status == 200
    assert "<td>row 4</td><td>column first_name</td><td>is required</td>" in page
    assert "Rows with errors: 1. Fix them in the file, or tick “Skip bad rows”." in page
    assert await counts(sessions, service.id) == (0, 0)
    skipped = await (await client.post("/admin/import", data=form(token, data, skip_bad_rows=True))).text()
    assert count(skipped, "Created") == 2 and count(skipped, "Bad rows skipped") == 1
    assert await counts(sessions, service.id) == (2, 2)


async def test_an_xlsx_upload_is_read_like_a_csv(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_id", "first_name", "last_name"])
    sheet.append(["P-x1", "Lee", "Park"])
    sheet.append(["P-x2", "Sam", "Lo"])
    buffer = io.BytesIO()
    book.save(buffer)
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    response = await client.post("/admin/import", data=form(token, buffer.getvalue(), "export.xlsx"))
    page = await response.text()
    assert response.status == 200 and count(page, "Created") == 2, page
    assert (await counts(sessions, service.id))[0] == 2


async def test_a_missing_file_or_unknown_kind_is_a_400(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    unknown = await client.post("/admin/import", data=form(token, people_csv(1), kind="staff"))
    assert (
        unknown.status == 400 and "Choose what the file holds: people, cases or appointments." in await unknown.text()
    )
    no_file = FormData()
    no_file.add_field("csrf_token", token)
    no_file.add_field("kind", "people")
    no_file.add_field("file", b"", filename="", content_type="application/octet-stream")
    missing = await client.post("/admin/import", data=no_file)
    assert missing.status == 400 and "Choose a .csv or .xlsx file to import." in await missing.text()
    assert await counts(sessions, service.id) == (0, 0)
    assert await audit_rows(sessions, service.id, action="directory.import") == []


async def test_the_page_is_for_admins_and_needs_the_csrf_token(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    no_csrf = await client.post("/admin/import", data=form(None, people_csv(2)), allow_redirects=False)
    assert no_csrf.status == 403
    wrong = await client.post("/admin/import", data=form("not-the-token", people_csv(2)), allow_redirects=False)
    assert wrong.status == 403
    assert await counts(sessions, service.id) == (0, 0)
    await client.post("/logout", data={"csrf_token": token})
    client.session.cookie_jar.clear()

    officer = await staff_factory(service.id, roles=("officer", "supervisor"))
    await sign_in(client, officer)
    assert (await client.get("/admin/import")).status == 403
    officer_token = await csrf_from(client, "/inbox")
    posted = await client.post("/admin/import", data=form(officer_token, people_csv(2)))
    assert posted.status == 403
    assert await counts(sessions, service.id) == (0, 0)
    audit_page = await client.get("/admin/audit")
    assert audit_page.status == 200 and 'href="/admin/import"' not in await audit_page.text()  # no tab


async def test_an_upload_above_the_body_limit_is_refused(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    limit = client.app[keys.SETTINGS].max_body_bytes  # type: ignore[index]
    response = await client.post("/admin/import", data=form(token, people_csv(limit // 60 + 10)))
    assert response.status == 413
    assert await counts(sessions, service.id) == (0, 0)


async def test_a_full_refresh_closing_too_many_cases_needs_force(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    token = await csrf_from(client, "/admin/import")
    await client.post("/admin/import", data=form(token, people_csv(2)))
    refs = [f"C-{i}" for i in range(5)]
    made = await (await client.post("/admin/import", data=form(token, cases_csv(refs), kind="cases"))).text()
    assert count(made, "Created") == 5
    one = cases_csv(refs[:1])
    refused = await (await client.post("/admin/import", data=form(token, one, kind="cases", full=True))).text()
    assert "would close 4 of 5 open cases (more than 20%); check the file, or tick “Force” and import again" in refused
    assert count(refused, "Closed") == 4 and "Nothing written" in refused
    forced = await client.post("/admin/import", data=form(token, one, kind="cases", full=True, force=True))
    page = await forced.text()
    assert "The cases were written." in page and count(page, "Closed") == 4
    again = await (await client.post("/admin/import", data=form(token, one, kind="cases", full=True))).text()
    assert count(again, "Closed") == 0 and "The cases were written." in again
