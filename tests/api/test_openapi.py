"""Health checks answer without a token; the OpenAPI document describes exactly the routes the app has."""

from __future__ import annotations

import asyncio
import json

from aiohttp import hdrs
from aiohttp.test_utils import TestClient
from jsonschema import Draft202012Validator
from notifications_python_client.notifications import NotificationsAPIClient

from gateway import keys
from gateway.api.openapi import build_document
from gateway.app import create_app
from gateway.jobs.queue import LocalQueue
from gateway.settings import Settings
from tests.api.test_template_fields import REMINDER_EN
from tests.letters.helpers import ADDRESS, FIELDS, LETTER_EN


async def test_healthz_and_readyz_answer_json_without_a_token(client: TestClient) -> None:
    live = await client.get("/healthz")
    assert live.status == 200 and live.content_type == "application/json"
    assert await live.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and ready.content_type == "application/json"
    assert await ready.json() == {"status": "ok", "checks": {"database": "ok"}}


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every /v2 route and health check the running app serves."""
    out = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != hdrs.METH_HEAD and (path.startswith("/v2") or path in ("/healthz", "/readyz")):
            out.add((route.method.lower(), path))
    return out


async def test_openapi_lists_every_route_and_only_those(client: TestClient, settings: Settings) -> None:
    resp = await client.get("/v2/openapi.json")  # public: no token needed to read the docs
    assert resp.status == 200 and resp.content_type == "application/json"
    document = json.loads(await resp.read())
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": settings.base_url}]
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    served = app_routes(client)
    assert any(path.startswith("/v2/notifications") for _, path in served)
    assert served - documented == set(), "routes missing from the OpenAPI document"
    assert documented - served == set(), "documented routes the app does not serve"


async def test_openapi_references_resolve(client: TestClient) -> None:
    document = await (await client.get("/v2/openapi.json")).json()
    text = json.dumps(document)
    schemas = document["components"]["schemas"]
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref
    for path in ("/v2/notifications/sms", "/v2/notifications/email"):
        params = document["paths"][path]["post"]["parameters"]
        assert [p["in"] for p in params if p["name"] == "Idempotency-Key"] == ["header"], path
    send_sms = document["paths"]["/v2/notifications/sms"]["post"]
    schema = schemas[send_sms["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["required"]) == {"phone_number", "template_id"}
    assert schema["additionalProperties"] is False


async def test_readyz_checks_redis_in_scaled_mode(aiohttp_client, database_url) -> None:  # type: ignore[no-untyped-def]
    """Scaled mode: readiness includes Redis; a Redis that does not answer is reported by name."""
    from gateway.api.routes import _redis_check
    from gateway.app import create_app
    from tests.conftest import test_settings
    from tests.services import redis_url

    assert (await _redis_check("redis://127.0.0.1:1/0")).startswith("error")
    settings = test_settings(database_url, redis_url=redis_url(), redis_prefix="gwtest-readyz")
    try:
        client = await aiohttp_client(create_app(settings))
    except OSError as exc:
        from tests.services import require_services

        require_services(f"Redis not reachable at {redis_url()} ({exc})")
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "redis": "ok"}


async def test_real_answers_match_the_documented_schemas(aiohttp_server, settings, service) -> None:  # type: ignore[no-untyped-def]
    """A text, a letter and the templates as the official client gets them validate against the document's
    response schemas, extensions included (a letter's `tracking_number`, a template's `personalisation`)."""
    app = create_app(settings)
    server = await aiohttp_server(app)
    notify = NotificationsAPIClient(service.test_key, base_url=str(server.make_url("")).rstrip("/"))
    document = build_document(settings.base_url)

    def check(name: str, answer: object) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer)]
        assert errors == [], (name, errors)

    call = asyncio.to_thread
    template = await call(notify.get_template, REMINDER_EN)
    check("Template", template)
    assert template["personalisation"], "the extension is filled, so the check above covered it"
    check("Template", await call(notify.get_template_version, REMINDER_EN, template["version"]))
    check("TemplateList", await call(notify.get_all_templates))
    examples = {name: spec["example"] for name, spec in template["personalisation"].items()}
    sms = await call(notify.send_sms_notification, service.team_mobile, REMINDER_EN, examples)
    letter = await call(notify.send_letter_notification, LETTER_EN, {**FIELDS, **ADDRESS})
    queue = app[keys.QUEUE]
    assert isinstance(queue, LocalQueue)
    await queue.join()
    check("Notification", await call(notify.get_notification_by_id, sms["id"]))
    got_letter = await call(notify.get_notification_by_id, letter["id"])
    check("Notification", got_letter)
    assert "tracking_number" in got_letter
    check("NotificationList", await call(notify.get_all_notifications))
    # the checks can fail: a wrong type is caught
    with_bad_version = {**template, "version": "one"}
    schema = {"$ref": "#/components/schemas/Template", "components": document["components"]}
    assert list(Draft202012Validator(schema).iter_errors(with_bad_version))
