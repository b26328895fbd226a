"""A fake Twilio Messages API: a real aiohttp app speaking Twilio's wire format, for tests and benchmarks.

`make_fake_twilio()` returns the app; its state (`FakeTwilio`) is `app[FAKE_TWILIO]`. It accepts
`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form: To, From or MessagingServiceSid,
Body, StatusCallback) with HTTP Basic auth, answers 201 with Twilio's message resource JSON, and
records each accepted message; `GET` the same path lists them as Twilio does (To and From filters,
newest first). Faults are scripted per request (`state.script([...])`, `Fault.slow` takes the
message but answers late, as a provider that outlasts the client's timeout), a fixed
`delay` models a slow provider, and `send_status_callback()` posts signed status callbacks.
With `hold_after=N`, requests that come once N messages are taken wait (received, not yet taken)
until `POST /_fake/release`: a test can stop a sender with sends surely in flight. An outage
(`state.outage = 503`, or `POST /_fake/outage` with `{"status": 503}`; `{"status": null}` ends it)
answers every send with that HTTP status, taking nothing, until it is switched off.

Calls (`POST .../Calls.json`) are in `tests/fakes/twilio_calls.py`: the fake fetches the TwiML,
presses the keys it is told to, and posts the status callback.

Standalone: `python -m tests.fakes.twilio_server --port 8099 --delay 0.2 [--auto-callbacks]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import math
import re
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_calls import FakeVoice, create_call

API = "/2010-04-01"
DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN = "AC" + "0" * 32, "test-auth-token"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ")
GSM7 |= set("ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


@dataclass(frozen=True)
class Fault:
    """One scripted answer instead of a normal 201. Build with the class methods."""

    kind: str  # "http" | "too_many" | "hang" | "error" | "slow"
    status: int = 500
    code: int | None = None
    message: str = "Internal Server Error"
    retry_after: float | None = None
    seconds: float = 3600.0

    @classmethod
    def http(cls, status: int = 500) -> Fault:
        return cls("http", status=status, message=f"HTTP {status}")

    @classmethod
    def too_many(cls, retry_after: float | None = 1) -> Fault:
        return cls("too_many", status=429, code=20429, message="Too Many Requests", retry_after=retry_after)

    @classmethod
    def hang(cls, seconds: float = 3600.0) -> Fault:
        return cls("hang", seconds=seconds)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Take the message, then answer only after `seconds` (a client that gave up has it sent all the same)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def error(cls, code: int, status: int = 400, message: str | None = None) -> Fault:
        return cls("error", status=status, code=code, message=message or f"Twilio error {code}")


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str | None
    messaging_service_sid: str | None
    body: str
    status_callback: str | None
    received_at: float = field(default_factory=time.time)


@dataclass
class FakeTwilio:
    """The fake's state: what it received, what it will answer next, and the callbacks it sent."""

    account_sid: str = DEFAULT_ACCOUNT_SID
    auth_token: str = DEFAULT_AUTH_TOKEN
    delay: float = 0.0
    auto_callbacks: bool = False
    messages: list[FakeMessage] = field(default_factory=list)
    callbacks: list[tuple[str, dict[str, str], int]] = field(default_factory=list)  # url, form, status
    requests: int = 0  # sends asked for (POST)
    lookups: int = 0  # Messages lists asked for (GET)
    hold_after: int | None = None  # once this many messages are taken, hold new requests until released
    outage: int | None = None  # while set, every send is answered with this HTTP status (and nothing is taken)
    outage_delay: float = 0.0  # how long a send's outage answer takes (past the client's timeout: seen as timeouts)
    refused: int = 0  # requests (sends and lookups) answered during an outage
    voice: FakeVoice = field(default_factory=FakeVoice)  # the Calls API (tests/fakes/twilio_calls.py)
    _script: deque[Fault] = field(default_factory=deque)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _session: aiohttp.ClientSession | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def script(self, faults: Iterable[Fault]) -> None:
        """Answer the next requests with these faults, in order, then normally again."""
        self._script.extend(faults)

    def by_sid(self, sid: str) -> FakeMessage:
        return next(m for m in self.messages if m.sid == sid)

    async def send_status_callback(self, sid: str, status: str, error_code: str | None = None) -> int:
        """POST Twilio's signed status callback for message `sid`; return the HTTP status received."""
        message = self.by_sid(sid)
        if not message.status_callback:
            raise ValueError(f"message {sid} has no StatusCallback")
        # fmt: off
        form = {
            "AccountSid": self.account_sid, "ApiVersion": "2010-04-01", "From": message.from_ or "",
            "MessageSid": sid, "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": message.to,
        }
        # fmt: on
        if message.messaging_service_sid:
            form["MessagingServiceSid"] = message.messaging_service_sid
        if error_code:
            form["ErrorCode"] = error_code
        signature = RequestValidator(self.auth_token).compute_signature(message.status_callback, form)
        assert self._session is not None, "the fake's app is not running"
        headers = {"X-Twilio-Signature": signature}
        async with self._session.post(message.status_callback, data=form, headers=headers) as response:
            self.callbacks.append((message.status_callback, form, response.status))
            return response.status

    async def _auto(self, sid: str) -> None:
        for status in ("sent", "delivered"):
            await asyncio.sleep(0.01)
            try:
                await self.send_status_callback(sid, status)
            except aiohttp.ClientError:
                return


def _error(status: int, code: int, message: str) -> web.Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more_info, "status": status}
    return web.json_response(body, status=status)


def _rfc2822(at: float) -> str:
    return format_datetime(datetime.fromtimestamp(at, UTC), usegmt=True).replace("GMT", "+0000")


def _resource(state: FakeTwilio, message: FakeMessage) -> dict[str, Any]:
    now = _rfc2822(time.time())
    uri = f"{API}/Accounts/{state.account_sid}/Messages/{message.sid}"
    single, multi = (160, 153) if set(message.body) <= GSM7 else (70, 67)  # GSM-7 or UCS-2
    segments = 1 if len(message.body) <= single else math.ceil(len(message.body) / multi)
    # fmt: off
    return {
        "account_sid": state.account_sid, "api_version": "2010-04-01", "body": message.body,
        "date_created": _rfc2822(message.received_at), "date_sent": None, "date_updated": now,
        "direction": "outbound-api",
        "error_code": None, "error_message": None, "from": message.from_,
        "messaging_service_sid": message.messaging_service_sid, "num_media": "0",
        "num_segments": str(segments), "price": None, "price_unit": "USD",
        "sid": message.sid, "status": "accepted" if message.from_ is None else "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"}, "to": message.to, "uri": f"{uri}.json",
    }
    # fmt: on


async def _create_message(request: web.Request) -> web.Response:
    state = request.app[FAKE_TWILIO]
    state.requests += 1
    # Read the whole request first: as with Twilio, a message whose request has arrived is taken even if
    # the client goes away during the delay (a killed worker must not make its in-flight sends vanish).
    await request.post()
    if state.hold_after is not None and len(state.messages) >= state.hold_after:
        await state._released.wait()
    if state.delay:
        await asyncio.sleep(state.delay)
    if state.outage is not None:
        if state.outage_delay:
            await asyncio.sleep(state.outage_delay)
        state.refused += 1
        return _error(state.outage, state.outage, f"Service unavailable (HTTP {state.outage})")
    answer_after = 0.0
    if state._script and state._script[0].kind == "slow":
        answer_after = state._script.popleft().seconds
    elif state._script:
        fault = state._script.popleft()
        if fault.kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state._closing.wait(), fault.seconds)
            return web.Response(status=504)
        if fault.kind == "http":
            return web.Response(status=fault.status, text=fault.message)
        response = _error(fault.status, fault.code or fault.status, fault.message)
        if fault.retry_after is not None:
            response.headers["Retry-After"] = f"{fault.retry_after:g}"
        return response
    refused = _refuse(request, state)
    if refused is not None:
        return refused
    form = await request.post()
    to, body = str(form.get("To", "")), str(form.get("Body", ""))
    from_, service = form.get("From"), form.get("MessagingServiceSid")
    problems = [
        (not to, 21604, "A 'To' phone number is required."),
        (not E164.match(to), 21211, f"The 'To' number {to} is not a valid phone number."),
        (not from_ and not service, 21603, "A 'From' or 'MessagingServiceSid' parameter is required."),
        (not body, 21602, "Message body is required."),
        (len(body) > 1600, 21617, "The concatenated message body exceeds the 1600 character limit."),
    ]
    for failed, code, text in problems:
        if failed:
            return _error(400, code, text)
    callback = form.get("StatusCallback")
    message = FakeMessage(
        sid="SM" + secrets.token_hex(16),
        to=to,
        from_=str(from_) if from_ else None,
        messaging_service_sid=str(service) if service else None,
        body=body,
        status_callback=str(callback) if callback else None,
    )
    state.messages.append(message)
    if state.auto_callbacks and message.status_callback:
        task = asyncio.create_task(state._auto(message.sid))
        state._tasks.add(task)
        task.add_done_callback(state._tasks.discard)
    if answer_after:
        await asyncio.sleep(answer_after)
    return web.json_response(_resource(state, message), status=201)


def _refuse(request: web.Request, state: FakeTwilio) -> web.Response | None:
    """Twilio's answer to a request with the wrong credentials or account, else None."""
    expected = aiohttp.encode_basic_auth(state.account_sid, state.auth_token)
    if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
        return _error(401, 20003, "Authenticate")
    if request.match_info["account_sid"] != state.account_sid:
        return _error(404, 20404, f"The requested resource {request.path} was not found")
    return None


async def _read_messages(request: web.Request) -> web.Response:
    """Twilio's Messages list (`GET .../Messages.json`): To and From filters, newest first, pages of PageSize
    (50 by default, at most 1000) with `next_page_uri`. DateSent filters are not modelled."""
    state = request.app[FAKE_TWILIO]
    state.lookups += 1
    if state.outage is not None:
        state.refused += 1
        return _error(state.outage, state.outage, f"Service unavailable (HTTP {state.outage})")
    refused = _refuse(request, state)
    if refused is not None:
        return refused
    to, from_ = request.query.get("To"), request.query.get("From")
    try:
        size = min(1000, max(1, int(request.query.get("PageSize", "50"))))
        page = max(0, int(request.query.get("Page", "0")))
    except ValueError:
        return _error(400, 20001, "Invalid PageSize or Page")
    found = [m for m in reversed(state.messages) if (not to or m.to == to) and (not from_ or m.from_ == from_)]
    shown = found[page * size : (page + 1) * size]
    filters = "".join(f"&{name}={quote(value)}" for name, value in (("To", to), ("From", from_)) if value)
    uri = f"{API}/Accounts/{state.account_sid}/Messages.json?PageSize={size}{filters}&Page="
    more = (page + 1) * size < len(found)
    # fmt: off
    body = {
        "messages": [_resource(state, m) for m in shown], "start": page * size, "end": page * size + len(shown) - 1,
        "first_page_uri": f"{uri}0", "next_page_uri": f"{uri}{page + 1}" if more else None, "page": page,
        "page_size": size, "previous_page_uri": f"{uri}{page - 1}" if page else None, "uri": f"{uri}{page}",
    }
    # fmt: on
    return web.json_response(body)


async def _list_messages(request: web.Request) -> web.Response:
    """Not Twilio's API: lets a test or benchmark in another process see what arrived (and when)."""
    state = request.app[FAKE_TWILIO]
    since = int(request.query.get("since", "0"))
    items = [{"sid": m.sid, "to": m.to, "body": m.body, "received_at": m.received_at} for m in state.messages[since:]]
    body = {"count": len(state.messages), "requests": state.requests, "refused": state.refused, "messages": items}
    return web.json_response(body)


async def _release(request: web.Request) -> web.Response:
    """Not Twilio's API: let the requests held by `hold_after` (and all later ones) through."""
    request.app[FAKE_TWILIO]._released.set()
    return web.json_response({"released": True})


async def _outage(request: web.Request) -> web.Response:
    """Not Twilio's API: `{"status": 503}` starts an outage (every send answered so), `{"status": null}` ends it."""
    state = request.app[FAKE_TWILIO]
    status = (await request.json()).get("status")
    if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
        return web.json_response({"error": "status must be an HTTP error status or null"}, status=400)
    state.outage = status
    return web.json_response({"outage": state.outage, "refused": state.refused})


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[FAKE_TWILIO]
    state._closing = asyncio.Event()
    state._released = asyncio.Event()
    state._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    yield
    for task in list(state._tasks):
        task.cancel()
    await state._session.close()


async def _release_hangs(app: web.Application) -> None:
    app[FAKE_TWILIO]._closing.set()
    app[FAKE_TWILIO]._released.set()


FAKE_TWILIO = web.AppKey("fake_twilio", FakeTwilio)


def make_fake_twilio(
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    delay: float = 0.0,
    auto_callbacks: bool = False,
    hold_after: int | None = None,
) -> web.Application:
    """The fake Twilio app; its `FakeTwilio` state is `app[FAKE_TWILIO]`."""
    app = web.Application()
    app[FAKE_TWILIO] = FakeTwilio(account_sid, auth_token, delay, auto_callbacks, hold_after=hold_after)
    app.router.add_post(API + "/Accounts/{account_sid}/Messages.json", _create_message)
    app.router.add_get(API + "/Accounts/{account_sid}/Messages.json", _read_messages)
    app.router.add_post(API + "/Accounts/{account_sid}/Calls.json", create_call)
    app.router.add_get("/_fake/messages", _list_messages)
    app.router.add_post("/_fake/release", _release)
    app.router.add_post("/_fake/outage", _outage)
    app.cleanup_ctx.append(_lifecycle)
    app.on_shutdown.append(_release_hangs)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Twilio Messages API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--auto-callbacks", action="store_true", help="post sent + delivered per message")
    parser.add_argument("--hold-after", type=int, help="hold requests once this many messages are taken")
    options = vars(parser.parse_args())
    host, port = options.pop("host"), options.pop("port")
    web.run_app(make_fake_twilio(**options), host=host, port=port, access_log=None)


if __name__ == "__main__":
    main()
