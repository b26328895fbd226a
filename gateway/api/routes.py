"""Mounts the API: the auth middleware for `/v2`, its routes, health checks and the OpenAPI document."""

from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text

from gateway import keys
from gateway.api import (
    appointments,
    bulk,
    case_record,
    directory,
    letters,
    notifications,
    openapi,
    received_texts,
    templates,
    victims,
)
from gateway.api.errors import Handler, json_response

PUBLIC_PATHS = frozenset({"/v2/openapi.json"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every `/v2` route needs a valid Notify-style JWT; the caller is kept on the request."""
    if request.path.startswith("/v2") and request.path not in PUBLIC_PATHS:
        request[keys.CALLER] = await request.app[keys.KEYRING].authenticate(request.headers.get("Authorization"))
    return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: the database answers (and, in scaled mode, Redis)."""
    checks: dict[str, str] = {}
    try:
        async with request.app[keys.ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    redis_url = request.app[keys.SETTINGS].redis_url
    if redis_url:
        checks["redis"] = await _redis_check(redis_url)
    ready = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


async def _redis_check(url: str) -> str:
    client: Redis = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        await client.ping()
        return "ok"
    except (RedisError, OSError) as exc:
        return f"error: {type(exc).__name__}"
    finally:
        await client.aclose()


def setup_api(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/v2/openapi.json", openapi.document)
    app.router.add_routes(letters.routes)
    app.router.add_routes(bulk.routes)  # before notifications: /v2/notifications/bulk is not an id
    app.router.add_routes(notifications.routes)
    app.router.add_routes(templates.routes)
    app.router.add_routes(received_texts.routes)
    app.router.add_routes(case_record.routes)
    app.router.add_routes(directory.routes)
    app.router.add_routes(appointments.routes)
    app.router.add_routes(victims.routes)  # victim registrations and offender events (gateway.victims)
