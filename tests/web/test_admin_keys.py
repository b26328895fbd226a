"""The admin API keys page: keys with type, creator and last use; revoke after a confirmation naming
the key, CSRF-checked and audited, refused by the API at once. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.crypto import Vault
from gateway.db import ApiKey
from tests.api.test_auth import bearer
from tests.factories import ServiceUnderTest, make_service
from tests.web.conftest import StaffFactory
from tests.web.staff import audit_rows, csrf_from, sign_in

Client = TestClient  # type: ignore[type-arg]
Sessions = async_sessionmaker[AsyncSession]


async def _key_id(sessions: Sessions, service_id: object, name: str) -> str:
    async with sessions() as db:
        return str(await db.scalar(select(ApiKey.id).where(ApiKey.service_id == service_id, ApiKey.name == name)))


async def test_an_admin_lists_keys_and_revokes_one_after_confirming(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions
) -> None:
    assert (await client.get("/v2/templates", headers=bearer(service.live_key, service.id))).status == 200
    await client.app[keys.KEYRING].usage.flush()  # type: ignore[union-attr]
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    page = await (await client.get("/admin/keys")).text()
    rows = re.findall(
        r"<tr>\s*<td>(\w+)</td>\s*<td>(\w+)</td>\s*<td>([^<]+)</td>\s*<td>[^<]+</td>\s*<td>([^<]+)</td>", page
    )
    by_name = {name: (kind, creator, used) for name, kind, creator, used in rows}
    assert by_name["live_key"][:2] == ("live", "test") and by_name["live_key"][2] != "Never"
    assert by_name["test_key"] == ("test", "test", "Never")
    assert service.live_key.rsplit("-", 1)[1] not in page  # never a secret

    key_id = await _key_id(sessions, service.id, "live_key")
    token = await csrf_from(client, f"/admin/keys/{key_id}/revoke")
    unconfirmed = await client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "live"})
    assert unconfirmed.status == 400 and "Type the key&#39;s name, live_key, to confirm." in await unconfirmed.text()
    no_csrf = await client.post(f"/admin/keys/{key_id}/revoke", data={"confirm": "live_key"}, allow_redirects=False)
    assert no_csrf.status == 403
    assert (await client.get("/v2/templates", headers=bearer(service.live_key, service.id))).status == 200

    done = await client.post(
        f"/admin/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "live_key"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == "/admin/keys?done=key_revoked"
    refused = await client.get("/v2/templates", headers=bearer(service.live_key, service.id))
    assert refused.status == 403 and "API key revoked" in await refused.text()  # at once in this process
    assert (await client.get("/v2/templates", headers=bearer(service.team_key, service.id))).status == 200
    [row] = await audit_rows(sessions, service.id, action="api_key.revoke")
    assert (row.actor, row.target, row.detail) == (
        f"staff:{admin.id}",
        "live_key",
        {"key_id": key_id, "key_type": "live"},
    )
    again = await client.post(f"/admin/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": "live_key"})
    assert again.status == 409 and "already revoked" in await again.text()
    assert "Revoked" in await (await client.get("/admin/keys")).text()


async def test_keys_page_is_for_admins_of_the_same_service_only(
    client: Client, service: ServiceUnderTest, staff_factory: StaffFactory, sessions: Sessions, vault: Vault
) -> None:
    other = await make_service(sessions, vault)
    admin = await staff_factory(service.id, roles=("admin",))
    await sign_in(client, admin)
    foreign = await _key_id(sessions, other.id, "live_key")
    assert (await client.get(f"/admin/keys/{foreign}/revoke")).status == 404
    token = await csrf_from(client, "/admin/keys")
    posted = await client.post(f"/admin/keys/{foreign}/revoke", data={"csrf_token": token, "confirm": "live_key"})
    assert posted.status == 404
    assert (await client.get("/v2/templates", headers=bearer(other.live_key, other.id))).status == 200
    await client.post("/logout", data={"csrf_token": token})
    client.session.cookie_jar.clear()
    officer = await staff_factory(service.id, roles=("officer", "supervisor"))
    await sign_in(client, officer)
    assert (await client.get("/admin/keys")).status == 403
