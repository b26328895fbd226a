"""Twilio's voice webhooks for victim calls: the TwiML, the key pressed, and the call's status.

Each URL carries the call's signed id (`gateway.victims.voice.call_token`) and every request must
carry a valid `X-Twilio-Signature` for the public URL (`verified_form`): a forged or unsigned
request is a 403 and changes nothing. A token that is not ours answers 404.

* `POST /webhooks/twilio/voice/{token}`: the TwiML Twilio plays when the call is answered. A machine
  (`AnsweredBy` machine_*/fax) gets only "please call <VSU number>"; a person gets the notice in
  their language inside `<Gather numDigits=1>`.
* `POST .../{token}/gather`: `Digits` 1 acknowledges the notice (keypress); 9 plays it again;
  anything else asks again.
* `POST .../{token}/status`: the call ended (`CallStatus`); without a key it is tried again later.

Logs carry the call id only, never the number or anything said.
"""

from __future__ import annotations

import uuid

import structlog
from aiohttp import web

from gateway import keys
from gateway.db import Service, VictimCall, VictimNotice
from gateway.db.write_lock import write_lock
from gateway.victims.acknowledge import acknowledge
from gateway.victims.voice import (
    PATH,
    WORDS,
    call_acknowledged,
    call_ended,
    call_message,
    call_of_token,
    machine_text,
    twiml_for,
    twiml_say,
)
from gateway.webhooks.twilio_signature import verified_form

log = structlog.get_logger()
ACK_KEY, REPEAT_KEY = "1", "9"


def _xml(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/xml")


async def _call(request: web.Request) -> tuple[VictimCall, VictimNotice, Service, dict[str, str]]:
    settings = request.app[keys.SETTINGS]
    form = await verified_form(request, settings.twilio_auth_token, settings.base_url)
    call_id = call_of_token(request.app[keys.VAULT], request.match_info["token"])
    if call_id is None:
        raise web.HTTPNotFound()
    async with request.app[keys.SESSIONS]() as db:
        call = await db.get(VictimCall, call_id)
        notice = await db.get(VictimNotice, call.notice_id) if call else None
        service = await db.get(Service, call.service_id) if call else None
    if call is None or notice is None or service is None:
        raise web.HTTPNotFound()
    return call, notice, service, dict(form)


async def _notice_twiml(request: web.Request, call: VictimCall, notice: VictimNotice) -> str:
    message = await call_message(request.app[keys.JOB_CONTEXT], notice)
    action = f"{request.app[keys.SETTINGS].base_url.rstrip('/')}{PATH}{request.match_info['token']}/gather"
    return twiml_for(message, call.language, action)


async def answered(request: web.Request) -> web.Response:
    call, notice, service, form = await _call(request)
    answered_by = form.get("AnsweredBy", "")
    if answered_by.startswith("machine") or answered_by == "fax":
        log.info("victims.call_machine", call_id=str(call.id))
        async with write_lock(request.app[keys.ENGINE]), request.app[keys.SESSIONS]() as db:
            stored = await db.get(VictimCall, call.id)
            if stored is not None:
                stored.answered_by = answered_by[:32]
                await db.commit()
        return _xml(twiml_say(machine_text(call.language, service), call.language))
    return _xml(await _notice_twiml(request, call, notice))


async def gathered(request: web.Request) -> web.Response:
    call, notice, _service, form = await _call(request)
    digits = form.get("Digits", "")
    if digits == ACK_KEY:
        now = request.app[keys.CLOCK].now()
        async with write_lock(request.app[keys.ENGINE]), request.app[keys.SESSIONS]() as db:
            await acknowledge(db, notice.id, via="keypress", by="victim", now=now, service_id=call.service_id)
            await call_acknowledged(db, call.id)
            await db.commit()
        log.info("victims.call_acknowledged", call_id=str(call.id))
        return _xml(twiml_say(WORDS.get(call.language, WORDS["en"])["thanks"], call.language))
    return _xml(await _notice_twiml(request, call, notice))  # 9 (hear again) or a wrong key: the whole notice again


async def status(request: web.Request) -> web.Response:
    call, _notice, _service, form = await _call(request)
    await call_ended(
        request.app[keys.JOB_CONTEXT], uuid.UUID(str(call.id)), form.get("CallStatus", ""), form.get("AnsweredBy")
    )
    log.info("victims.call_status", call_id=str(call.id), call_status=form.get("CallStatus", ""))
    return web.Response(status=200)


def setup_twilio_voice(app: web.Application) -> None:
    app.router.add_post(PATH + "{token}", answered)
    app.router.add_post(PATH + "{token}/gather", gathered)
    app.router.add_post(PATH + "{token}/status", status)
