"""Checks `X-Twilio-Signature` on a webhook, against the public URL Twilio called.

The gateway usually runs behind a proxy, so the URL aiohttp sees (http://127.0.0.1:8080/...) is
not the one Twilio signed. The signature is checked against `GATEWAY_PUBLIC_URL` + the request's
path and query. A missing or wrong signature is a 403 and the caller must store nothing.

The body is read with a limit of `MAX_FORM_BYTES` (64 KB, far above any Twilio webhook) however it
is sent: a `Content-Length` over it is refused before reading, and a chunked body is cut off as
soon as it passes it (413 either way). A signed field holding a NUL character is a 400 naming the
field (`gateway.text_input`): PostgreSQL cannot store one, and Twilio never sends one.
"""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from twilio.request_validator import RequestValidator

from gateway.errors import ApiError
from gateway.text_input import first_nul_field

MAX_FORM_BYTES = 64 * 1024


def public_request_url(request: web.Request, public_url: str) -> str:
    """The URL Twilio called: the configured public base plus the path and query received."""
    return public_url.rstrip("/") + request.rel_url.path_qs


async def verified_form(request: web.Request, auth_token: str | None, public_url: str) -> MultiDictProxy[str]:
    """Return the webhook's form fields once the signature checks out; 403 otherwise."""
    if auth_token is None:
        raise ApiError(403, "AuthError", "Twilio webhooks are not enabled: no Twilio auth token is configured")
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise _too_large()
    signature = request.headers.get("X-Twilio-Signature")
    if not signature:
        raise ApiError(403, "AuthError", "Missing X-Twilio-Signature header")
    try:
        # A chunked body has no Content-Length: the limit must hold while reading, not only before.
        form = await request.clone(client_max_size=MAX_FORM_BYTES).post()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large() from None
    # Twilio posts plain form fields; anything else (a file part) is not Twilio's.
    fields = MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))
    validator = RequestValidator(auth_token)
    if not validator.validate(public_request_url(request, public_url), fields, signature):
        raise ApiError(403, "AuthError", "Invalid X-Twilio-Signature")
    if (field := first_nul_field(fields.items())) is not None:
        raise ApiError(400, "ValidationError", f"webhook field {field} must not contain NUL characters")
    return fields


def _too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Webhook body is too large: the limit is {MAX_FORM_BYTES} bytes")
