"""Checks `X-Twilio-Signature` on a webhook, against the public URL Twilio called.

The gateway usually runs behind a proxy, so the URL aiohttp sees (http://127.0.0.1:8080/...) is
not the one Twilio signed. The signature is checked against `GATEWAY_PUBLIC_URL` + the request's
path and query. A missing or wrong signature is a 403 and the caller must store nothing.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from gateway.errors import ApiError

MAX_FORM_BYTES = 64 * 1024


def public_request_url(request: web.Request, public_url: str) -> str:
    """The URL Twilio called: the configured public base plus the path and query received."""
    return public_url.rstrip("/") + request.rel_url.path_qs


async def verified_form(request: web.Request, auth_token: str | None, public_url: str) -> MultiDictProxy[str]:
    """Return the webhook's form fields once the signature checks out; 403 otherwise."""
    if auth_token is None:
        raise ApiError(403, "AuthError", "Twilio webhooks are not enabled: no Twilio auth token is configured")
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise ApiError(413, "RequestEntityTooLarge", "Webhook body is too large")
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise ApiError(403, "AuthError", "Missing X-Twilio-Signature header")
    form = await request.post()
    # Twilio posts plain form fields; anything else (a file part) is not Twilio's.
    fields = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
    validator = RequestValidator(auth_token)
    if not validator.validate(public_request_url(request, public_url), fields, signature):
        raise ApiError(403, "AuthError", "Invalid X-Twilio-Signature")
    return fields
