"""The baseline: a minimal aiohttp endpoint that parses a JSON body and answers 201."""

from __future__ import annotations

import sys

import orjson
from aiohttp import web


async def accept(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    return web.Response(body=orjson.dumps({"id": "x", "echo": len(body)}), status=201, content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    app = web.Application()
    app.router.add_post("/v2/notifications/sms", accept)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
