"""Middlewares: request ids and structured access logs, and errors answered in Notify's shape."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.errors import ApiError

log = structlog.get_logger()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_HTTP_ERROR_NAMES = {
    404: ("NotFound", "The requested URL was not found on the server."),
    405: ("MethodNotAllowed", "The method is not allowed for the requested URL."),
    413: ("RequestEntityTooLarge", "Request body is too large: the limit is {limit} bytes."),
}


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_response(error: ApiError) -> web.Response:
    return json_response(error.body(), status=error.status)


def make_error_middleware(max_body_bytes: int) -> Middleware:
    """Answer every error on API routes as Notify does: `{"status_code", "errors": [...]}`."""

    @web.middleware
    async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = error_response(exc)
            except web.HTTPException as exc:
                if exc.status < 400 or not _is_api(request):
                    raise
                name, message = _HTTP_ERROR_NAMES.get(exc.status, (exc.reason.replace(" ", ""), exc.reason))
                response = error_response(ApiError(exc.status, name, message.format(limit=max_body_bytes)))
            except Exception:
                log.exception("unhandled_error", path=request.path)
                if not _is_api(request):
                    raise
                response = error_response(ApiError(500, "Exception", "Internal server error"))
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        finally:
            log.info(
                "request",
                method=request.method,
                path=request.rel_url.path,
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    return error_middleware


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/v2") or request.path.startswith("/webhooks")
