"""Voice notices: a call through Twilio's Calls API that reads the notice and waits for a key.

`place_call(ctx, call_id)` (job `victims_call`, priority lane) makes one attempt: it checks the call
is still the notice's current step and the notice still open, claims the attempt in the database,
then asks Twilio (`client.calls.create_async`, the SMS sender's client: same account, API base and
deadline) to call with answering-machine detection, with signed URLs for the TwiML, the key and
the status (`gateway.webhooks.twilio_voice`, which also checks `X-Twilio-Signature`).

What is said (`twiml_for`) is the notice's text message without its reply prompt, in the victim's
language (`<Say language=...>`), inside `<Gather numDigits=1>`: 1 acknowledges, 9 hears it again.
When a machine answers, only "please call <VSU number>": others may hear a voicemail.

A call that ends without a key (busy, no answer, a machine, hung up) is tried again, up to
`max_attempts` (GATEWAY_VICTIM_CALL_ATTEMPTS) spread evenly across the step's window, as VINE calls
until a PIN is entered; the escalation moves on at the window's end whatever the calls did. A non-
urgent call outside quiet hours' window waits for it, as texts do. Without Twilio settings (the
embedded sandbox) a call is recorded as `sandbox` and nobody is called: the step waits its window.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioException
from twilio.twiml.voice_response import Gather, VoiceResponse

from gateway.channels.twilio_sms import TwilioSmsSender
from gateway.crypto import Vault
from gateway.db import Person, Service, VictimCall, VictimNotice, VictimNoticeStep
from gateway.db.write_lock import write_lock
from gateway.domain import Channel
from gateway.sendtime.quiet_hours import next_opening, parse_window, recipient_zone
from gateway.signed_ids import read_signed_id, sign_id
from gateway.templating import Renderer

if TYPE_CHECKING:
    from gateway.jobs.context import JobContext

log = structlog.get_logger()
CALL = "victims_call"
PURPOSE = b"victim-call:"
PATH = "/webhooks/twilio/voice/"
SAY_LANGUAGE = {"en": "en-US", "es": "es-MX"}
WORDS = {
    "en": {
        "keys": "Press 1 to confirm that you received this message. Press 9 to hear it again.",
        "thanks": "Thank you. Your confirmation is recorded. Goodbye.",
        "machine": "This is a message from {vsu}. Please call {phone}. Goodbye.",
        "again": "We did not get your answer. We will call again. Goodbye.",
    },
    "es": {
        "keys": "Oprima 1 para confirmar que recibió este mensaje. Oprima 9 para escucharlo de nuevo.",
        "thanks": "Gracias. Su confirmación quedó registrada. Adiós.",
        "machine": "Este es un mensaje de {vsu}. Por favor llame al {phone}. Adiós.",
        "again": "No recibimos su respuesta. Volveremos a llamar. Adiós.",
    },
}
FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def call_token(vault: Vault, call_id: uuid.UUID) -> str:
    return sign_id(vault, PURPOSE, call_id)


def call_of_token(vault: Vault, token: str) -> uuid.UUID | None:
    return read_signed_id(vault, PURPOSE, token)


def call_job_id(call_id: uuid.UUID | str, attempt: int) -> str:
    return f"victims-call:{call_id}:{attempt}"


def spoken_text(sms_body: str) -> str:
    """The text message read aloud: its last line is the reply prompt, which a call replaces with keys."""
    lines = [line for line in sms_body.splitlines() if line.strip()]
    return " ".join(lines[:-1] if len(lines) > 1 else lines)


def twiml_for(message: str, language: str, action_url: str) -> str:
    words = WORDS.get(language, WORDS["en"])
    say_language = SAY_LANGUAGE.get(language, "en-US")
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=8)
    gather.say(message, language=say_language)
    gather.say(words["keys"], language=say_language)
    response.append(gather)
    response.say(words["again"], language=say_language)
    return str(response)


def twiml_say(text: str, language: str) -> str:
    response = VoiceResponse()
    response.say(text, language=SAY_LANGUAGE.get(language, "en-US"))
    response.hangup()
    return str(response)


def machine_text(language: str, service: Service) -> str:
    phone = service.sms_sender if service.sms_sender and service.sms_sender.startswith("+") else service.name
    return WORDS.get(language, WORDS["en"])["machine"].format(vsu=service.name, phone=phone)


async def call_message(ctx: JobContext, notice: VictimNotice) -> str:
    """The notice's text message, rendered as it is texted, without the reply prompt."""
    from gateway.victims.sending import TemplateFinder

    async with ctx["sessions"]() as session:
        template = await TemplateFinder(session).get(f"victim_notice_{notice.kind}", Channel.SMS, notice.language)
    if template is None:
        return ""
    return spoken_text(Renderer().render(template, notice.personalisation).body)


async def place_call(ctx: JobContext, call_id: str) -> str:
    now, settings, vault = ctx["clock"].now(), ctx["settings"], ctx["vault"]
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        call = await session.get(VictimCall, uuid.UUID(call_id))
        if call is None:
            return "no such call"
        notice = await session.get(VictimNotice, call.notice_id)
        current = await session.scalar(
            select(VictimNoticeStep.call_id).where(
                VictimNoticeStep.notice_id == call.notice_id, VictimNoticeStep.step == (notice.step if notice else -1)
            )
        )
        if notice is None or notice.state != "open" or current != call.id:
            call.state = "stopped"
            await session.commit()
            return "stopped: the notice moved on"
        if call.state in ("calling", "acknowledged", "exhausted", "stopped") or call.attempts >= call.max_attempts:
            return f"not called: {call.state}"
        if not notice.urgent and (opening := await _quiet_opening(session, vault, call, notice, now)) is not None:
            call.state, call.next_attempt_at = "retry", opening
            await session.commit()
            return "held for quiet hours"
        sender = ctx["senders"].get(Channel.SMS)
        call.attempts += 1
        call.updated_at = now
        if not isinstance(sender, TwilioSmsSender):
            call.state, call.last_status = "sandbox", "sandbox: nobody called"
            await session.commit()
            return "sandbox"
        call.state = "calling"
        to, sender_number = vault.open(call.to_enc), call.sender
        await session.commit()
    token = call_token(vault, call.id)
    base = f"{settings.base_url.rstrip('/')}{PATH}{token}"
    try:
        created = await sender.client().calls.create_async(
            to=to,
            from_=sender_number,
            url=base,
            method="POST",
            status_callback=f"{base}/status",
            status_callback_method="POST",
            status_callback_event=["completed"],
            machine_detection="Enable",
        )
        ref, failure = str(created.sid), None
    except TwilioException as exc:
        ref, failure = None, f"twilio: {getattr(exc, 'code', None) or type(exc).__name__}"
    except Exception as exc:  # a provider down: the attempt counts, the next one is planned
        ref, failure = None, f"provider: {type(exc).__name__}"
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        stored = await session.get(VictimCall, call.id)
        assert stored is not None
        if failure is None:
            stored.provider_ref = ref
        else:
            stored.last_status = failure[:32]
            await _after_attempt(ctx, session, stored, now)
        await session.commit()
    log.info("victims.call", call_id=call_id, attempt=call.attempts, placed=failure is None)
    return "placed" if failure is None else failure


async def _quiet_opening(
    session: AsyncSession, vault: Vault, call: VictimCall, notice: VictimNotice, now: datetime
) -> datetime | None:
    """When quiet hours (on the victim's clock, as for texts) open again, if they hold the call now."""
    service = await session.get(Service, call.service_id)
    person = await session.get(Person, notice.person_id)
    if service is None:
        return None
    number = vault.open(call.to_enc)
    zone = recipient_zone(person.timezone if person else None, number, service.timezone)
    opening = next_opening(now, zone, parse_window(service.quiet_hours))
    return opening if opening > now else None


async def _after_attempt(ctx: JobContext, session: AsyncSession, call: VictimCall, now: datetime) -> None:
    """An attempt ended without a key: plan the next one inside the window, or give up on calling."""
    notice = await session.get(VictimNotice, call.notice_id)
    if notice is None or notice.state != "open" or call.attempts >= call.max_attempts:
        call.state = "exhausted" if call.attempts >= call.max_attempts else "stopped"
        return
    left = (notice.due_at - now) if notice.due_at else timedelta(hours=1)
    gap = max(timedelta(minutes=1), left / (call.max_attempts - call.attempts + 1))
    call.state, call.next_attempt_at, call.updated_at = "retry", now + gap, now


async def call_ended(ctx: JobContext, call_id: uuid.UUID, status: str, answered_by: str | None) -> None:
    """A status callback: record it; a call that ended without acknowledgment is tried again later."""
    now = ctx["clock"].now()
    async with write_lock(ctx["engine"]), ctx["sessions"]() as session:
        call = await session.get(VictimCall, call_id)
        if call is None:
            return
        call.last_status = status[:32]
        call.answered_by = (answered_by or call.answered_by or "")[:32] or None
        call.updated_at = now
        if status in FINAL_STATUSES and call.state == "calling":
            await _after_attempt(ctx, session, call, now)
        await session.commit()


async def call_acknowledged(session: AsyncSession, call_id: uuid.UUID) -> None:
    await session.execute(
        update(VictimCall)
        .where(VictimCall.id == call_id)
        .values(state="acknowledged")
        .execution_options(synchronize_session=False)
    )


async def requeue_due_calls(ctx: JobContext, now: datetime) -> int:
    """Sweeper: calls whose next attempt is due are enqueued (one job id per attempt)."""
    async with ctx["sessions"]() as session:
        due = (
            await session.execute(
                select(VictimCall.id, VictimCall.attempts).where(
                    VictimCall.state.in_(("retry", "queued")), VictimCall.next_attempt_at <= now
                )
            )
        ).all()
    for call_id, attempts in due:
        await ctx["queue"].enqueue(CALL, str(call_id), job_id=call_job_id(call_id, attempts + 1), priority=True)
    return len(due)
