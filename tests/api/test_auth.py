"""API authentication: Notify's JWT scheme, every way a token can be wrong, and key types.

Tokens are built with PyJWT (or by hand, for headers PyJWT will not sign) so each test says
exactly what is on the wire; the good case uses the official client's own token function.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient
from notifications_python_client.authentication import create_jwt_token
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import keys
from gateway.admin import create_api_key
from gateway.api import auth
from gateway.crypto import Vault
from gateway.db import ApiKey, Notification, Service
from gateway.db.base import utcnow
from gateway.domain import KeyType
from tests.factories import ServiceUnderTest, make_service

SMS_FREE_TEXT = "91b96cb2-3bb9-4806-8eb8-cd401aba9c55"
EMAIL_FREE_TEXT = "a0d573e8-4e5c-43ae-a9ab-8a657559e03a"
CLOCK = "Error: Your system clock must be accurate to within 30 seconds"
WRONG_ALG = "Invalid token: algorithm used is not HS256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: str, digest: str = "sha256") -> str:
    """A JWT with any header, HMAC-signed with `secret` (PyJWT will not sign some of these)."""
    signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing}.{_b64(hmac.new(secret.encode(), signing.encode(), digest).digest())}"


def claims(s: ServiceUnderTest, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"iss": str(s.id), "iat": int(time.time())}
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


def signed(s: ServiceUnderTest, **changes: Any) -> str:
    return "Bearer " + jwt.encode(claims(s, **changes), s.secret(s.live_key), algorithm="HS256")


def bearer(key: str, service_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": "Bearer " + create_jwt_token(key[-36:], str(service_id))}


async def assert_error(resp: Any, status: int, error: str, message: str) -> None:
    assert resp.status == status, await resp.text()
    assert await resp.json() == {"status_code": status, "errors": [{"error": error, "message": message}]}


Header = Callable[[ServiceUnderTest], str | None]
BAD_TOKENS: list[tuple[str, Header, int, str]] = [
    ("no-header", lambda s: None, 401, "Unauthorized: authentication token must be provided"),
    ("empty-header", lambda s: "", 401, "Unauthorized: authentication token must be provided"),
    (
        "basic-scheme",
        lambda s: "Basic " + signed(s)[7:],
        401,
        "Unauthorized: authentication bearer scheme must be used",
    ),
    (
        "bearer-without-token",
        lambda s: "Bearer ",
        401,
        "Unauthorized: authentication bearer scheme must be used",
    ),
    ("garbage", lambda s: "Bearer not-a-jwt", 403, "Invalid token: signature, api token is not valid"),
    (
        "wrong-secret",
        lambda s: "Bearer " + jwt.encode(claims(s), str(uuid.uuid4()), algorithm="HS256"),
        403,
        "Invalid token: API key not found",
    ),
    ("iat-31s-ago", lambda s: signed(s, iat=int(time.time()) - 31), 403, CLOCK),
    ("iat-an-hour-ago", lambda s: signed(s, iat=int(time.time()) - 3600), 403, CLOCK),
    ("iat-32s-ahead", lambda s: signed(s, iat=int(time.time()) + 32), 403, CLOCK),
    ("no-iat", lambda s: signed(s, iat=None), 403, "Invalid token: iat field not provided"),
    ("no-iss", lambda s: signed(s, iss=None), 403, "Invalid token: iss field not provided"),
    (
        "iss-not-uuid",
        lambda s: signed(s, iss="parole-office"),
        403,
        "Invalid token: service id is not the right data type",
    ),
    (
        "iss-unknown-service",
        lambda s: signed(s, iss=str(uuid.uuid4())),
        403,
        "Invalid token: service not found",
    ),
    ("alg-none", lambda s: "Bearer " + jwt.encode(claims(s), None, algorithm="none"), 403, WRONG_ALG),
    (
        "alg-none-signed",
        lambda s: "Bearer " + hand_made({"alg": "none"}, claims(s), s.secret(s.live_key)),
        403,
        WRONG_ALG,
    ),
    (
        "alg-hs512",
        lambda s: "Bearer " + hand_made({"alg": "HS512", "typ": "JWT"}, claims(s), s.secret(s.live_key), "sha512"),
        403,
        WRONG_ALG,
    ),
    (
        "alg-rs256-header",
        lambda s: "Bearer " + hand_made({"alg": "RS256", "typ": "JWT"}, claims(s), s.secret(s.live_key)),
        403,
        WRONG_ALG,
    ),
]


@pytest.mark.parametrize(("header", "status", "message"), [c[1:] for c in BAD_TOKENS], ids=[c[0] for c in BAD_TOKENS])
async def test_bad_token_is_refused_in_notifys_shape(
    client: TestClient, service: ServiceUnderTest, header: Header, status: int, message: str
) -> None:
    value = header(service)
    headers = {} if value is None else {"Authorization": value}
    resp = await client.get("/v2/templates", headers=headers)
    await assert_error(resp, status, "AuthError", message)


async def test_bad_token_stores_nothing(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = {
        "phone_number": service.team_mobile,
        "template_id": SMS_FREE_TEXT,
        "personalisation": {"message": "x"},
    }
    resp = await client.post(
        "/v2/notifications/sms",
        json=body,
        headers={"Authorization": signed(service, iat=int(time.time()) - 60)},
    )
    await assert_error(resp, 403, "AuthError", CLOCK)
    async with sessions() as session:
        assert (await session.scalars(select(Notification).where(Notification.service_id == service.id))).all() == []


async def test_good_token_from_the_official_client(client: TestClient, service: ServiceUnderTest) -> None:
    for key in (service.live_key, service.team_key, service.test_key):
        resp = await client.get("/v2/templates", headers=bearer(key, service.id))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["templates"]


@pytest.mark.parametrize("skew", [-25, 25])
async def test_clock_within_the_window_is_accepted(client: TestClient, service: ServiceUnderTest, skew: int) -> None:
    resp = await client.get("/v2/templates", headers={"Authorization": signed(service, iat=int(time.time()) + skew)})
    assert resp.status == 200, await resp.text()


async def test_token_of_one_service_cannot_claim_another(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    other = await make_service(sessions, vault)
    forged = "Bearer " + jwt.encode(claims(other), service.secret(service.live_key), algorithm="HS256")
    await assert_error(
        await client.get("/v2/templates", headers={"Authorization": forged}),
        403,
        "AuthError",
        "Invalid token: API key not found",
    )


async def _revoke(sessions: async_sessionmaker[AsyncSession], service: ServiceUnderTest, name: str) -> None:
    async with sessions() as session:
        await session.execute(
            update(ApiKey).where(ApiKey.service_id == service.id, ApiKey.name == name).values(revoked_at=utcnow())
        )
        await session.commit()


async def test_revoked_key_is_refused_once_forgotten(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.get("/v2/templates", headers=bearer(service.live_key, service.id))).status == 200
    await _revoke(sessions, service, "live_key")
    client.app[keys.KEYRING].forget()
    resp = await client.get("/v2/templates", headers=bearer(service.live_key, service.id))
    await assert_error(resp, 403, "AuthError", "Invalid token: API key revoked")
    assert (await client.get("/v2/templates", headers=bearer(service.team_key, service.id))).status == 200


async def test_revoked_key_stops_working_when_the_cache_expires(
    client: TestClient,
    service: ServiceUnderTest,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(auth, "CACHE_SECONDS", 0.2)
    assert (await client.get("/v2/templates", headers=bearer(service.live_key, service.id))).status == 200
    await _revoke(sessions, service, "live_key")
    await asyncio.sleep(0.3)
    resp = await client.get("/v2/templates", headers=bearer(service.live_key, service.id))
    await assert_error(resp, 403, "AuthError", "Invalid token: API key revoked")


async def _send_sms(client: TestClient, key: str, service_id: uuid.UUID, to: str) -> Any:
    body = {"phone_number": to, "template_id": SMS_FREE_TEXT, "personalisation": {"message": "Room 4 at 10"}}
    return await client.post("/v2/notifications/sms", json=body, headers=bearer(key, service_id))


async def test_one_service_cannot_read_anothers_notification(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    other = await make_service(sessions, vault)
    sent = await _send_sms(client, other.live_key, other.id, "+12025550143")
    assert sent.status == 201, await sent.text()
    nid = (await sent.json())["id"]
    resp = await client.get(f"/v2/notifications/{nid}", headers=bearer(service.live_key, service.id))
    await assert_error(resp, 404, "NoResultFound", "No result found")
    listed = await client.get("/v2/notifications", headers=bearer(service.live_key, service.id))
    assert (await listed.json())["notifications"] == []
    mine = await client.get(f"/v2/notifications/{nid}", headers=bearer(other.live_key, other.id))
    assert mine.status == 200 and (await mine.json())["id"] == nid


async def test_team_key_sends_only_to_the_team(
    client: TestClient, service: ServiceUnderTest, sessions: async_sessionmaker[AsyncSession]
) -> None:
    refused = await _send_sms(client, service.team_key, service.id, "+12025550143")
    await assert_error(refused, 400, "BadRequestError", "Can’t send to this recipient using a team-only API key")
    async with sessions() as session:
        assert (await session.scalars(select(Notification).where(Notification.service_id == service.id))).all() == []
    to_mobile = await _send_sms(client, service.team_key, service.id, service.team_mobile)
    assert to_mobile.status == 201, await to_mobile.text()
    email = {
        "email_address": service.team_email.upper(),
        "template_id": EMAIL_FREE_TEXT,
        "personalisation": {"subject": "Rota", "message": "You are on call"},
    }
    to_email = await client.post("/v2/notifications/email", json=email, headers=bearer(service.team_key, service.id))
    assert to_email.status == 201, await to_email.text()


async def test_test_key_is_accepted_and_kept_apart(client: TestClient, service: ServiceUnderTest) -> None:
    sent = await _send_sms(client, service.test_key, service.id, "+12025550143")
    assert sent.status == 201, await sent.text()
    nid = (await sent.json())["id"]
    as_test = await client.get("/v2/notifications", headers=bearer(service.test_key, service.id))
    assert [n["id"] for n in (await as_test.json())["notifications"]] == [nid]
    as_live = await client.get("/v2/notifications", headers=bearer(service.live_key, service.id))
    assert (await as_live.json())["notifications"] == []


async def test_a_service_unknown_a_moment_ago_authenticates_once_it_exists(
    client: TestClient, sessions: async_sessionmaker[AsyncSession], vault: Vault
) -> None:
    """Misses are not cached: a new service works at once, and random `iss` values cost no memory."""
    service_id = uuid.uuid4()
    early = "Bearer " + jwt.encode({"iss": str(service_id), "iat": int(time.time())}, "x" * 36, algorithm="HS256")
    await assert_error(
        await client.get("/v2/templates", headers={"Authorization": early}),
        403,
        "AuthError",
        "Invalid token: service not found",
    )
    async with sessions() as session:
        session.add(Service(id=service_id, name=f"New office {service_id.hex[:8]}"))
        await session.flush()
        key = await create_api_key(session, vault, service_id, "first", KeyType.LIVE)
        await session.commit()
    resp = await client.get("/v2/templates", headers=bearer(key, service_id))
    assert resp.status == 200, await resp.text()
