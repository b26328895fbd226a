"""The fake Twilio's Calls API: `POST /2010-04-01/Accounts/{AccountSid}/Calls.json`, then the call itself.

Create answers 201 with Twilio's Call resource JSON (`sid` CA..., `status` queued, ...) after the
same auth and `To` checks as messages. Then, as Twilio does, the fake "places" the call in the
background (`FakeVoice.answer` says who picks up):

* `human`: it POSTs the signed call parameters (CallSid, AccountSid, From, To, CallStatus
  in-progress, Direction outbound-api, AnsweredBy human) to the call's `Url`, reads the TwiML, and
  for each key in `FakeVoice.keys` ("1", or "91": hear again, then 1) POSTs `Digits` to the
  `<Gather action>` of the TwiML it last got; then the signed `StatusCallback` (completed).
* `machine_start`: the TwiML is fetched with `AnsweredBy=machine_start`; no key; completed.
* `no-answer` / `busy`: no TwiML; only the status callback with that `CallStatus`.

Every TwiML document the gateway answered is kept on the `FakeCall` (`twiml`), so tests read what
the victim heard. `FakeVoice.done` is set each time a call has finished its script, and the call marked `finished`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

if TYPE_CHECKING:
    from tests.fakes.twilio_server import FakeTwilio

ACTION = re.compile(r'<Gather[^>]*\saction="([^"]+)"')


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    url: str
    status_callback: str | None
    twiml: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # HTTP statuses the gateway answered, in order
    finished: bool = False  # the whole script ran (the status callback, if any, was answered)


@dataclass
class FakeVoice:
    answer: str = "human"  # human | machine_start | no-answer | busy
    keys: str = "1"
    calls: list[FakeCall] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


def call_resource(state: FakeTwilio, call: FakeCall) -> dict[str, Any]:
    now = format_datetime(datetime.now(UTC), usegmt=True).replace("GMT", "+0000")
    uri = f"/2010-04-01/Accounts/{state.account_sid}/Calls/{call.sid}"
    # fmt: off
    return {
        "account_sid": state.account_sid, "annotation": None, "answered_by": None, "api_version": "2010-04-01",
        "caller_name": None, "date_created": now, "date_updated": now, "direction": "outbound-api",
        "duration": None, "end_time": None, "forwarded_from": None, "from": call.from_,
        "from_formatted": call.from_, "group_sid": None, "parent_call_sid": None, "phone_number_sid": None,
        "price": None, "price_unit": "USD", "queue_time": "0", "sid": call.sid, "start_time": None,
        "status": "queued", "subresource_uris": {"recordings": f"{uri}/Recordings.json"}, "to": call.to,
        "to_formatted": call.to, "trunk_sid": None, "uri": f"{uri}.json",
    }
    # fmt: on


async def _post(state: FakeTwilio, call: FakeCall, url: str, extra: dict[str, str]) -> str:
    form = {
        "AccountSid": state.account_sid, "ApiVersion": "2010-04-01", "CallSid": call.sid,
        "Direction": "outbound-api", "From": call.from_, "To": call.to, **extra,
    }  # fmt: skip
    signature = RequestValidator(state.auth_token).compute_signature(url, form)
    assert state._session is not None
    async with state._session.post(url, data=form, headers={"X-Twilio-Signature": signature}) as response:
        call.statuses.append(response.status)
        return await response.text()


async def run_call(state: FakeTwilio, call: FakeCall) -> None:
    voice = state.voice
    try:
        if voice.answer in ("no-answer", "busy"):
            if call.status_callback:
                await _post(state, call, call.status_callback, {"CallStatus": voice.answer})
            return
        answered = {"CallStatus": "in-progress", "AnsweredBy": voice.answer}
        call.twiml.append(await _post(state, call, call.url, answered))
        if voice.answer == "human":
            for key in voice.keys:
                found = ACTION.search(call.twiml[-1])
                if found is None:
                    break
                action = found.group(1).replace("&amp;", "&")
                call.twiml.append(await _post(state, call, action, {**answered, "Digits": key}))
        if call.status_callback:
            await _post(state, call, call.status_callback, {"CallStatus": "completed", "AnsweredBy": voice.answer})
    except aiohttp.ClientError:
        return
    finally:
        call.finished = True
        voice.done.set()


async def create_call(request: web.Request) -> web.Response:
    from tests.fakes.twilio_server import E164, FAKE_TWILIO, _error

    state = request.app[FAKE_TWILIO]
    state.requests += 1
    expected = aiohttp.encode_basic_auth(state.account_sid, state.auth_token)
    if request.headers.get("Authorization", "") != expected:
        return _error(401, 20003, "Authenticate")
    form = await request.post()
    to, from_, url = str(form.get("To", "")), str(form.get("From", "")), str(form.get("Url", ""))
    if not E164.match(to):
        return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
    if not from_:
        return _error(400, 21603, "A 'From' phone number is required.")
    if not url.startswith(("http://", "https://")):
        return _error(400, 21205, "Url is not a valid URL.")
    callback = form.get("StatusCallback")
    call = FakeCall("CA" + secrets.token_hex(16), to, from_, url, str(callback) if callback else None)
    state.voice.calls.append(call)
    task = asyncio.create_task(run_call(state, call))
    state._tasks.add(task)
    task.add_done_callback(state._tasks.discard)
    return web.json_response(call_resource(state, call), status=201)
